#!/usr/bin/env python3
"""An Eastron SDM630-style meter served by pymodbus, a Modbus stack no one on this project wrote.

The agent reads it in the interop tests. Values are packed with Python's struct module, not with
any of our codecs, so a word-order or float bug on our side shows up as a wrong number.

usage: pymodbus_meter.py tcp PORT UNIT   |   pymodbus_meter.py rtu SERIAL_PATH UNIT
Prints the served values as one JSON line, then "ready", then serves until killed
(or for at most --seconds, default 120).
"""
import json
import struct
import sys
import threading

from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ServerStop, StartSerialServer, StartTcpServer

# SDM630 input registers (PROTOCOLS.md): float32, high word first.
POINTS = {
    "voltage.l1": (0x0000, 229.5),
    "voltage.l2": (0x0002, 231.25),
    "voltage.l3": (0x0004, 230.75),
    "current.l1": (0x0006, 5.5),
    "current.l2": (0x0008, 3.25),
    "current.l3": (0x000A, 1.125),
    "power.active.l1": (0x000C, 1200.0),
    "power.active.l2": (0x000E, 700.5),
    "power.active.l3": (0x0010, 250.25),
    "power.active.total": (0x0034, 2150.75),
    "power_factor.total": (0x003E, 0.96875),
    "frequency": (0x0046, 50.0),
    "energy.import.total": (0x0048, 12345.5),
    "energy.export.total": (0x004A, 12.25),
    "energy.total": (0x0156, 12357.75),
}


def registers():
    regs = [0] * 0x200
    for address, value in POINTS.values():
        high, low = struct.unpack(">HH", struct.pack(">f", value))
        regs[address] = high
        regs[address + 1] = low
    return regs


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    seconds = 120.0
    for a in sys.argv[1:]:
        if a.startswith("--seconds="):
            seconds = float(a.split("=", 1)[1])
    mode, where, unit = args[0], args[1], int(args[2])
    # pymodbus's device context reads block address N+1 for protocol address N.
    block = ModbusSequentialDataBlock(1, registers())
    device = ModbusDeviceContext(ir=block, hr=ModbusSequentialDataBlock(1, registers()))
    context = ModbusServerContext(devices={unit: device}, single=False)
    print(json.dumps({k: v for k, (_, v) in POINTS.items()}), flush=True)
    threading.Timer(seconds, ServerStop).start()
    threading.Timer(0.5, lambda: print("ready", flush=True)).start()
    if mode == "tcp":
        StartTcpServer(context=context, address=("127.0.0.1", int(where)))
    else:
        StartSerialServer(context=context, framer="rtu", port=where, baudrate=9600, bytesize=8,
                          parity="N", stopbits=1)


if __name__ == "__main__":
    main()
