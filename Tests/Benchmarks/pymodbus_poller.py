#!/usr/bin/env python3
"""The pymodbus peer of `make bench`: polls TCP meters with the agent's own plan (the same requests)
through pymodbus's asyncio client, one task per meter, reads only (no storage, no uplink).

usage: pymodbus_poller.py SECONDS INTERVAL_S PLAN_FILE PORT [PORT...]
INTERVAL_S 0 polls back to back. PLAN_FILE lines: "<table> <start> <count> <points>" (`meteragent plan`).
Prints one JSON line: points, errors, seconds, cpu_seconds.
"""
import asyncio
import json
import resource
import sys
import time

from pymodbus.client import AsyncModbusTcpClient


async def poll(port, plan, interval, stop_at, totals):
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
    await client.connect()
    next_tick = time.monotonic()
    while time.monotonic() < stop_at:
        for table, start, count, n in plan:
            read = client.read_input_registers if table == "input" else client.read_holding_registers
            try:
                reply = await read(start, count=count, device_id=1)
                if reply.isError():
                    totals["errors"] += 1
                else:
                    totals["points"] += n
            except Exception:
                totals["errors"] += 1
        if interval > 0:
            next_tick += interval
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        else:
            await asyncio.sleep(0)
    client.close()


async def main():
    seconds, interval = float(sys.argv[1]), float(sys.argv[2])
    plan = []
    for line in open(sys.argv[3]):
        table, start, count, points = line.split()
        plan.append((table, int(start, 0), int(count), int(points)))
    ports = [int(p) for p in sys.argv[4:]]
    totals = {"points": 0, "errors": 0}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    await asyncio.gather(*(poll(p, plan, interval, t0 + seconds, totals) for p in ports))
    elapsed = time.monotonic() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps({"points": totals["points"], "errors": totals["errors"], "seconds": elapsed, "cpu_seconds": cpu}))


if __name__ == "__main__":
    asyncio.run(main())
