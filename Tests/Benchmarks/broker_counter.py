#!/usr/bin/env python3
"""Counts, at the broker, the readings an agent delivers: subscribes (QoS 1) to its readings topic
and counts the readings in each batch until SECONDS have passed with none arriving after the
agent's end, or until killed (SIGTERM prints the count).

usage: broker_counter.py PORT TOPIC READY_FILE
Writes READY_FILE once subscribed; on SIGTERM prints one JSON line: readings, messages.
"""
import json
import signal
import sys
import threading

import paho.mqtt.client as mqtt

counts = {"readings": 0, "messages": 0}
done = threading.Event()


def main():
    port, topic, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    def on_connect(client, userdata, flags, reason, properties=None):
        client.subscribe(topic, qos=1)

    def on_subscribe(client, userdata, mid, reasons, properties=None):
        open(ready, "w").close()

    def on_message(client, userdata, message):
        # Each reading of a batch carries its own "seq"; counting them needs no JSON parse.
        counts["readings"] += message.payload.count(b'"seq":')
        counts["messages"] += 1

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-counter")
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect("127.0.0.1", port)
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    client.loop_start()
    done.wait()
    client.loop_stop()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
