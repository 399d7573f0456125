#!/usr/bin/env python3
"""Card-to-relay time (`make bench`): a card is presented to a simulated reader (metersim's control
socket) and timed until the agent's `card.session.started` event, stamped when the meter's relay
was read back closed. Each measured presentation is followed by a second one that ends the session,
so that the next starts from a cut supply. The head-end's authorization list is sent first, signed
with PyPI `cryptography` and published with paho-mqtt.

usage: card_latency.py BROKER_PORT PREFIX GATEWAY KEY.pem KEY_ID CONTROL_SOCKET READER_LINE COUNT
Prints one JSON line: {"latencies_ms": [...], "denied": n, "failed": n}.
"""
import base64
import json
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization

CARD = "0F00271DA5"
HELD_S = 0.15       # about two frames of a reader that repeats every 100 ms
SETTLE_S = 0.35     # the card gone for longer than the site's debounce time


def control(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall((command + "\n").encode())
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    if not reply.decode().endswith("ok\n"):
        sys.exit("metersim refused %r: %s" % (command, reply.decode()))


def main(argv):
    port, prefix, gateway, key_file, key_id, sock, line, count = argv[1:8] + [int(argv[8])]
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    events, results = [], {}
    cond = threading.Condition()

    def on_message(client, userdata, message):
        batch = json.loads(message.payload)
        with cond:
            events.extend(batch.get("events", []))
            for result in batch.get("results", []):
                results[result.get("id")] = result
            cond.notify_all()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-cards-%d" % time.time_ns())
    client.on_message = on_message
    client.connect("127.0.0.1", int(port))
    client.subscribe([(prefix + "/events", 1), (prefix + "/cmd/result", 1)])
    client.loop_start()
    time.sleep(0.5)

    now = int(time.time())
    payload = json.dumps({"id": "bench-list-%d" % time.time_ns(), "gateway": gateway, "device": gateway, "action": "authlist.update",
                          "params": {"version": now, "cards": [{"card": "em4100:" + CARD, "role": "customer"}]},
                          "issued_at": now - 1, "expires_at": now + 300}).encode()
    client.publish(prefix + "/cmd", json.dumps({"key": key_id, "payload": base64.b64encode(payload).decode(),
                                                "sig": base64.b64encode(key.sign(payload)).decode()}), qos=1)
    with cond:
        if not cond.wait_for(lambda: any(r.get("action") == "authlist.update" for r in results.values()), timeout=30):
            sys.exit("no result for authlist.update")
        listed = [r for r in results.values() if r.get("action") == "authlist.update"][0]
    if listed.get("status") != "done":
        sys.exit("authlist.update: %s" % listed)

    def count_of(kind):
        return sum(1 for e in events if e.get("type") == kind)

    latencies = []
    for i in range(count):
        for kind in ("card.session.started", "card.session"):
            with cond:
                before = count_of(kind)
            sent_ms = time.time() * 1000
            control(sock, "card %s %s %.2f" % (line, CARD, HELD_S))
            with cond:
                if not cond.wait_for(lambda: count_of(kind) > before, timeout=15):
                    sys.exit("presentation %d: no %s event (events so far: %s)" % (i, kind, events[-5:]))
                event = [e for e in events if e.get("type") == kind][-1]
            if kind == "card.session.started":
                latencies.append(event["ts"] - sent_ms)
            time.sleep(SETTLE_S)
    client.loop_stop()
    client.disconnect()
    denied = sum(1 for e in events if e.get("type") == "card.presented" and e.get("decision") == "denied")
    failed = count_of("card.session.failed")
    print(json.dumps({"latencies_ms": latencies, "denied": denied, "failed": failed}))


if __name__ == "__main__":
    main(sys.argv)
