#!/usr/bin/env python3
"""Prints one compact line per MQTT message of the uplink contract, from `mosquitto_sub -v` lines
(`topic payload`) on stdin. Used by run-demo.sh (`make run`) to show readings arriving."""
import json
import signal
import sys
import time


def billing_summary(readings):
    """The last billing value per device, e.g. `flat-101-elec energy.import.total=12.345 kWh`."""
    latest = {}
    for r in readings:
        if r.get("billing") and r.get("quality") == "good":
            latest[r.get("device")] = f"{r.get('point')}={r.get('value')} {r.get('unit', '')}".strip()
    return ", ".join(f"{device} {text}" for device, text in sorted(latest.items()))


def event_summary(events):
    """Each event in a few words, e.g. `flat-301-gas gas.leak false→true`, `gas-1 gas.pressure.low raised at 1.2`."""
    parts = []
    for e in events:
        kind = e.get("type", "?")
        if kind == "state.changed":
            parts.append(f"{e.get('device')} {e.get('point')} {json.dumps(e.get('from'))}→{json.dumps(e.get('to'))}")
        elif kind in ("alarm.raised", "alarm.cleared"):
            parts.append(f"{e.get('device')} {e.get('alarm')} {kind.split('.')[1]} at {e.get('value')}")
        else:
            parts.append(kind)
    return "; ".join(parts)


def describe(topic, payload):
    kind = topic.rsplit("/", 1)[-1] if not topic.endswith("/cmd/result") else "cmd/result"
    try:
        body = json.loads(payload)
    except ValueError:
        return f"{topic}: {len(payload)} bytes (not JSON)"
    if kind == "status":
        return f"status {body.get('state')} (version {body.get('version')}, since {body.get('since')}" + \
               (f", {body['reason']})" if "reason" in body else ")")
    for key in ("readings", "events", "results"):
        if key in body:
            records = body[key]
            bad = sum(1 for r in records if r.get("quality", "good") != "good")
            line = (f"{kind:<10} {body.get('gateway')} seq {body.get('first_seq')}–{body.get('last_seq')} "
                    f"({len(records)} {key}, {len(payload)} bytes"
                    + (f", {bad} not good" if bad else "") + ")")
            summary = billing_summary(records) if key == "readings" else event_summary(records) if key == "events" else ""
            return line + (f"  {summary}" if summary else "")
    return f"{topic}: {payload[:120]}"


def main():
    # Ctrl-C is for the agent; this ends when the subscriber closes the pipe, after the last line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for raw in sys.stdin:
        topic, _, payload = raw.rstrip("\n").partition(" ")
        print(time.strftime("%H:%M:%S"), describe(topic, payload), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
