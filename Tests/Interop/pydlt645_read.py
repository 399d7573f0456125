"""The PyPI `python-dlt645` (0.1.4) master: asks the only meter on a line for its address
(AA…AA), then reads data identifiers of it; prints `address=…` and `DI=hex payload` lines
(payload most significant byte first, as the library returns it). Run with the interpreter of
.venv-pydlt645. Usage: pydlt645_read.py PORT DI [DI …]  (DI as written, e.g. 00010000)"""
import sys

import serial
import dlt645

port = sys.argv[1]
ser = serial.Serial(port, baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=2)
address = dlt645.get_addr(ser)
print(f"address={address}", flush=True)
for di in sys.argv[2:]:
    frame = dlt645.Frame(address)
    frame.data = di
    dlt645.write_frame(ser, frame)
    reply = dlt645.read_frame(dlt645.iogen(ser))
    # The library reverses the data field: the DI is at the end, the value before it. Its
    # load_ctrl() decodes every control byte as 0 (bytearray(int) makes zeros), so the raw byte is
    # printed instead.
    print(f"{di}={reply.data[:-8]} control={reply.frame[8]:02x}", flush=True)
