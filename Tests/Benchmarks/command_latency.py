#!/usr/bin/env python3
"""Command latency, publish to result (`make bench`): a head-end signs commands with PyPI
`cryptography`, publishes them with paho-mqtt (QoS 1) to a local mosquitto, and times each one until
its result arrives on `cmd/result`.

usage: command_latency.py BROKER_PORT PREFIX GATEWAY KEY.pem KEY_ID DEVICE COUNT
Prints one JSON line: {"latencies_ms": [...], "statuses": {"done": n, ...}}.
"""
import base64
import json
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization


def main(argv):
    port, prefix, gateway, key_file, key_id, device, count = argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], int(argv[7])
    with open(key_file, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    arrived = {}
    cond = threading.Condition()

    def on_message(client, userdata, message):
        batch = json.loads(message.payload)
        now = time.perf_counter()
        with cond:
            for result in batch.get("results", []):
                arrived.setdefault(result.get("id"), (now, result.get("status"), result.get("reason")))
            cond.notify_all()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-head-end-%d" % time.time_ns())
    client.on_message = on_message
    client.connect("127.0.0.1", int(port))
    # A head-end that cares about command latency turns Nagle off, as the agent does: otherwise
    # each publish waits for the ACK of the one before (the broker delays its ACKs by ~40 ms).
    client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.subscribe(prefix + "/cmd/result", qos=1)
    client.loop_start()
    time.sleep(0.5)
    latencies, statuses = [], {}
    run = time.time_ns()
    for i in range(count):
        now = int(time.time())
        command_id = "bench-%d-%d" % (run, i)
        payload = json.dumps({"id": command_id, "gateway": gateway, "device": device,
                              "action": "relay.open" if i % 2 == 0 else "relay.close",
                              "issued_at": now - 1, "expires_at": now + 300}).encode()
        envelope = json.dumps({"key": key_id, "payload": base64.b64encode(payload).decode(),
                               "sig": base64.b64encode(key.sign(payload)).decode()})
        sent = time.perf_counter()
        client.publish(prefix + "/cmd", envelope, qos=1)
        with cond:
            cond.wait_for(lambda: command_id in arrived, timeout=30)
            got = arrived.get(command_id)
        if got is None:
            statuses["timeout"] = statuses.get("timeout", 0) + 1
            continue
        latencies.append((got[0] - sent) * 1000)
        status = got[1] if got[2] is None else "%s/%s" % (got[1], got[2])
        statuses[status] = statuses.get(status, 0) + 1
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"latencies_ms": latencies, "statuses": statuses}))


if __name__ == "__main__":
    main(sys.argv)
