#!/usr/bin/env python3
"""The pymodbus side of the throughput benchmark: issues the same requests as the agent's plan.

usage: pymodbus_throughput.py SECONDS PLAN_FILE PORT [PORT...]
PLAN_FILE lines: "<table> <start> <count> <points>" (from `meteragent plan`).
Prints one JSON line: points, seconds, cpu_seconds.
"""
import json
import resource
import sys
import time

from pymodbus.client import ModbusTcpClient


def main():
    seconds = float(sys.argv[1])
    plan = []
    for line in open(sys.argv[2]):
        table, start, count, points = line.split()
        plan.append((table, int(start, 0), int(count), int(points)))
    clients = [ModbusTcpClient("127.0.0.1", port=int(p), timeout=2) for p in sys.argv[3:]]
    for c in clients:
        c.connect()
    points = 0
    errors = 0
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for c in clients:
            for table, start, count, n in plan:
                read = c.read_input_registers if table == "input" else c.read_holding_registers
                reply = read(start, count=count, device_id=1)
                if reply.isError():
                    errors += 1
                else:
                    points += n
    elapsed = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"points": points, "seconds": elapsed, "cpu_seconds": cpu, "errors": errors}))


if __name__ == "__main__":
    main()
