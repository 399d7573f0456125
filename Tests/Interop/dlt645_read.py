"""The PyPI `dlt645` (3.2.0) master reading a meter over a serial port; prints `name=value`
lines. Run with the interpreter of .venv-dlt645. The address is given in wire order (see
dlt645_meter.py)."""
import argparse
import sys

from dlt645 import MeterClientService, disable_logging

parser = argparse.ArgumentParser()
parser.add_argument("port")
parser.add_argument("--wire-address", required=True)
parser.add_argument("--baud", type=int, default=9600)
args = parser.parse_args()

disable_logging()
client = MeterClientService.new_rtu_client(args.port, args.baud, 8, 1, "N", 2.0)
client.set_address(args.wire_address)
items = [("energy.total", client.read_00, 0x00000000), ("energy.import.total", client.read_00, 0x00010000),
         ("voltage.l1", client.read_02, 0x02010100), ("current.l1", client.read_02, 0x02020100),
         ("power.active.total", client.read_02, 0x02030000), ("frequency", client.read_02, 0x02800002)]
failed = False
for name, read, di in items:
    item = read(di)
    if item is None:
        print(f"{name}=none", flush=True)
        failed = True
    else:
        print(f"{name}={item.value}", flush=True)
sys.exit(1 if failed else 0)
