#!/usr/bin/env python3
"""Reads registers with pymodbus's client and prints them decoded, for cross-checking metersim.

usage: pymodbus_read.py tcp HOST:PORT UNIT TABLE ADDRESS TYPE [ORDER]
       pymodbus_read.py rtu SERIAL_PATH UNIT TABLE ADDRESS TYPE [ORDER]
TABLE: holding | input; TYPE: f32 | u16 | i16 | u32 | i32; ORDER: ABCD (default) | CDAB.
Prints the value as a JSON number. Decoding is done here with struct, independently of our code.
"""
import json
import struct
import sys

from pymodbus.client import ModbusSerialClient, ModbusTcpClient


def main():
    mode, where, unit, table, address, vtype = sys.argv[1:7]
    order = sys.argv[7] if len(sys.argv) > 7 else "ABCD"
    unit, address = int(unit), int(address, 0)
    if mode == "tcp":
        host, port = where.rsplit(":", 1)
        client = ModbusTcpClient(host, port=int(port), timeout=2)
    else:
        client = ModbusSerialClient(where, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=2)
    if not client.connect():
        sys.exit("cannot connect to " + where)
    count = 2 if vtype in ("f32", "u32", "i32") else 1
    read = client.read_input_registers if table == "input" else client.read_holding_registers
    reply = read(address, count=count, device_id=unit)
    client.close()
    if reply.isError():
        sys.exit("error reply: %s" % reply)
    words = list(reply.registers)
    if order == "CDAB":
        words.reverse()
    raw = struct.pack(">" + "H" * count, *words)
    fmt = {"f32": ">f", "u32": ">I", "i32": ">i", "u16": ">H", "i16": ">h"}[vtype]
    print(json.dumps(struct.unpack(fmt, raw)[0]))


if __name__ == "__main__":
    main()
