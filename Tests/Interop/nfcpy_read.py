"""Reads a card's UID from a PN532 on a serial port with nfcpy's own PN532 driver (an independent
implementation of the chip's host protocol). Prints `device <name>` once the driver has
initialised the chip, then `uid <HEX>` for the first ISO 14443-A card, and exits 0; exits 1 with
`no card` when none came within --seconds, 2 when the chip did not initialise.

nfcpy's `tty:NAME:pn532` path only looks for NAME directly under /dev (it lists /dev), and a pty
lives in /dev/pts/. So this opens nfcpy's TTY transport on the path and runs the same steps its
`tty:` connect does: nfc.clf.pn532.init(transport), then the ContactlessFrontend on that device.
"""
import argparse
import sys
import time

import nfc.clf
from nfc.clf import RemoteTarget, pn532, transport


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    try:
        device = pn532.init(transport.TTY(args.port))
    except IOError as error:
        print("no PN532: %s" % error, flush=True)
        return 2
    device._path = args.port
    clf = nfc.clf.ContactlessFrontend()
    clf.device = device
    print("device %s" % clf.device, flush=True)
    try:
        deadline = time.time() + args.seconds
        while time.time() < deadline:
            target = clf.sense(RemoteTarget("106A"))
            if target is not None and target.sdd_res:
                print("uid %s" % bytes(target.sdd_res).hex().upper(), flush=True)
                return 0
            time.sleep(0.1)
        print("no card", flush=True)
        return 1
    finally:
        clf.close()


if __name__ == "__main__":
    sys.exit(main())
