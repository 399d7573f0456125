#!/usr/bin/env python3
"""The head-end's encryption machine for the simulated ESAM meters of metersim, written from the
scheme's description (Simulators/MeterSimulation/Devices/ESAM/ESAMKeyedScheme.swift) with Python's
own hmac and hashlib: the independent peer of the simulator's SHA-256 and HMAC.

usage: esam_headend.py frames --key HEX --address DIGITS --action ACTION [--level 96]
                              [--password 000000] [--operator 00000000] [--random HEX]
                              [--deadline-s 600 | --deadline-at UNIX] [--only auth|control] [--bad-mac]
         Prints the params of an esam.forward command, {"frames": [{"control": "03", "data": HEX},
         {"control": "1C", "data": HEX}]}: the identity authentication (DI 070000FF) for the meter
         at DIGITS (12 digits as written) and the relay control ACTION (trip, close_allowed,
         direct_close, alarm, alarm_off, keep_power, release) encrypted for its session. Data
         fields are hex before the +0x33 of the wire. --only leaves out the other frame;
         --bad-mac flips a bit of the MAC; --random fixes random 1 (16 hex digits); the deadline is
         now + --deadline-s, or --deadline-at (Unix seconds, shown in the local time zone: run
         with TZ=UTC for fixed test vectors).

The scheme, with H(label, parts) = HMAC-SHA256(key, ASCII label || parts):
  authentication: FF 00 00 07 | C0-C3 | H("auth", R1 || factor)[:8] | R1 (8) | factor,
                  factor = 00 00 || the address in wire order (lowest byte first)
  relay control:  PA P0-P2 C0-C3 | (N1 00 ss mm hh DD MM YY || 80 00*7) XOR H("encrypt", R1)[:16]
                  | H("mac", R1 || PA..C3 || ciphertext)[:4]
The deadline is the meter's local time, as in a plaintext relay command.
"""
import argparse
import hashlib
import hmac
import json
import os
import time

ACTIONS = {"trip": 0x1A, "close_allowed": 0x1B, "direct_close": 0x1C, "alarm": 0x2A, "alarm_off": 0x2B,
           "keep_power": 0x3A, "release": 0x3B}


def h(key, label, *parts):
    return hmac.new(key, label.encode("ascii") + b"".join(parts), hashlib.sha256).digest()


def wire_address(written):
    if len(written) != 12 or not written.isdigit():
        raise SystemExit("address must be 12 digits")
    return bytes.fromhex(written)[::-1]


def bcd(n):
    return (n // 10) << 4 | n % 10


def authentication(key, random1, address, operator):
    factor = b"\x00\x00" + address
    return bytes([0xFF, 0x00, 0x00, 0x07]) + operator + h(key, "auth", random1, factor)[:8] + random1 + factor


def relay_control(key, random1, action, deadline, level, password, operator):
    t = time.localtime(deadline)
    plaintext = bytes([action, 0x00] + [bcd(v) for v in (t.tm_sec, t.tm_min, t.tm_hour, t.tm_mday, t.tm_mon, t.tm_year % 100)])
    plaintext += b"\x80" + b"\x00" * 7
    header = bytes([level]) + password + operator
    ciphertext = bytes(a ^ b for a, b in zip(plaintext, h(key, "encrypt", random1)[:16]))
    return header + ciphertext + h(key, "mac", random1, header, ciphertext)[:4]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["frames"])
    parser.add_argument("--key", required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--action", choices=sorted(ACTIONS), default="trip")
    parser.add_argument("--level", default="96")
    parser.add_argument("--password", default="000000")
    parser.add_argument("--operator", default="00000000")
    parser.add_argument("--random")
    parser.add_argument("--deadline-s", type=int, default=600)
    parser.add_argument("--deadline-at", type=int)
    parser.add_argument("--only", choices=["auth", "control"])
    parser.add_argument("--bad-mac", action="store_true")
    args = parser.parse_args()

    key = bytes.fromhex(args.key)
    address = wire_address(args.address)
    random1 = bytes.fromhex(args.random) if args.random else os.urandom(8)
    # Written most significant digit first, sent lowest byte first (as P0-P2 and C0-C3 are).
    password = bytes.fromhex(args.password)[::-1]
    operator = bytes.fromhex(args.operator)[::-1]
    auth = authentication(key, random1, address, operator)
    control = bytearray(relay_control(key, random1, ACTIONS[args.action],
                                      args.deadline_at if args.deadline_at is not None else int(time.time()) + args.deadline_s,
                                      int(args.level, 16), password, operator))
    if args.bad_mac:
        control[-1] ^= 0x01
    frames = []
    if args.only != "control":
        frames.append({"control": "03", "data": auth.hex().upper()})
    if args.only != "auth":
        frames.append({"control": "1C", "data": bytes(control).hex().upper()})
    print(json.dumps({"frames": frames}))


if __name__ == "__main__":
    main()
