"""The PyPI `dlt645` (3.2.0) meter simulator, serving fixed values over TCP or a serial port.

Run with the interpreter of .venv-dlt645. Prints `ready <port>` once it listens, then serves
until killed. Its address strings are in wire order (it does not reverse them): the meter the
nameplate calls 121078563412 is `--wire-address 123456781012`. Note it answers frames for other
addresses with an error reply (bit 0), where a real meter stays silent.
"""
import argparse
import sys
import time

from dlt645 import MeterServerService, disable_logging

parser = argparse.ArgumentParser()
parser.add_argument("--tcp-port", type=int, help="listen on 127.0.0.1:PORT (0 picks one)")
parser.add_argument("--serial", help="serve on this serial port (a pty of a socat pair)")
parser.add_argument("--baud", type=int, default=9600)
parser.add_argument("--wire-address", default="123456781012")
parser.add_argument("--energy", type=float, default=12345.67)
parser.add_argument("--forward", type=float, default=12000.5)
parser.add_argument("--reverse", type=float, default=345.17)
parser.add_argument("--voltage", type=float, default=231.4)
parser.add_argument("--current", type=float, default=-5.125)
parser.add_argument("--power", type=float, default=1.1875)
parser.add_argument("--pf", type=float, default=0.953)
parser.add_argument("--frequency", type=float, default=49.98)
args = parser.parse_args()

disable_logging()
if args.serial:
    service = MeterServerService.new_rtu_server(args.serial, 8, 1, args.baud, "N", 1.0)
else:
    service = MeterServerService.new_tcp_server("127.0.0.1", args.tcp_port or 0, 1.0)
service.set_address(args.wire_address)
service.set_00(0x00000000, args.energy)
service.set_00(0x00010000, args.forward)
service.set_00(0x00020000, args.reverse)
service.set_02(0x02010100, args.voltage)
service.set_02(0x02020100, args.current)
service.set_02(0x02030000, args.power)
service.set_02(0x02060000, args.pf)
service.set_02(0x02800002, args.frequency)
if not service.server.start():
    print("cannot start", file=sys.stderr, flush=True)
    sys.exit(1)
port = getattr(service.server, "port", 0)
print(f"ready {port}", flush=True)
try:
    while True:
        time.sleep(1)
except KeyboardInterrupt:
    pass
