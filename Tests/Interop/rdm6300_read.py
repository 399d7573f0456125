"""The PyPI `rdm6300` package (0.1.1) reads one card from an RDM6300 on a serial port: its own
frame parser, checksum check and 9600 8N1 settings, none of them ours. Prints `ready` once the
port is open, then `card TTNNNNNNNN valid` (type byte and 32-bit tag number in hex, as the
library splits them), or `no card` and exit status 1 after TIMEOUT seconds. Frames with a wrong
checksum are counted by the library's `invalid_card` hook and printed as `invalid TT…`.
Usage: rdm6300_read.py PORT TIMEOUT"""
import sys
import time

import rdm6300


class OneCard(rdm6300.BaseReader):
    def __init__(self, port, deadline):
        super().__init__(port, heartbeat_interval=None)
        self.deadline = deadline
        self.found = None

    def card_inserted(self, card):
        self.found = card
        self.stop()

    def invalid_card(self, card):
        print(f"invalid {card.type:02X}{card.value:08X}", flush=True)

    def tick(self):
        if time.time() > self.deadline:
            self.stop()


port, timeout = sys.argv[1], float(sys.argv[2])
reader = OneCard(port, time.time() + timeout)
print("ready", flush=True)
reader.start()
reader.close()
if reader.found is None:
    print("no card", flush=True)
    sys.exit(1)
card = reader.found
print(f"card {card.type:02X}{card.value:08X} {'valid' if card.is_valid else 'invalid'}", flush=True)
