#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into Tests/Fuzz/Corpus/<target>/.

Each seed is a real frame or file in the layout the target reads (Tests/Fuzz/Sources): control
bytes first (chunking seed, direction, the request in flight), then the bytes off the wire. Run it
again after changing a target's input layout; libFuzzer adds what it finds to its own work
directory, never here.
"""
import base64, json, os, shutil, struct, sys

ROOT = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ROOT))
CORPUS = os.path.join(ROOT, "Corpus")


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def rtu(*body):
    b = bytes(body)
    return b + crc16(b)


def dlt645(address, control, data):
    body = bytes([0x68]) + bytes(address) + bytes([0x68, control, len(data)]) + bytes((x + 0x33) & 0xFF for x in data)
    return b"\xfe\xfe\xfe\xfe" + body + bytes([sum(body) & 0xFF, 0x16])


def cjt188(meter_type, address, control, data):
    body = bytes([0x68, meter_type]) + bytes(address) + bytes([control, len(data)]) + bytes(data)
    return body + bytes([sum(body) & 0xFF, 0x16])


def rdm6300(tag):
    check = 0
    for b in tag:
        check ^= b
    return b"\x02" + tag.hex().upper().encode() + ("%02X" % check).encode() + b"\x03"


def pn532(payload):
    n = len(payload)
    return bytes([0x00, 0x00, 0xFF, n, (-n) & 0xFF]) + bytes(payload) + bytes([(-sum(payload)) & 0xFF, 0x00])


seeds = {}

# modbus-rtu: mode (bit 0: response direction, bit 1: minimal buffer, bit 2: resets), chunk seed, stream.
read_req = rtu(0x01, 0x03, 0x00, 0x00, 0x00, 0x0A)
seeds["modbus-rtu"] = {
    "read-request": b"\x00\x00" + read_req,
    "read-request-chunked": b"\x00\x05" + read_req + rtu(0x02, 0x04, 0x00, 0x48, 0x00, 0x02),
    "write-registers-request": b"\x00\x03" + rtu(0x01, 0x10, 0x00, 0x01, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02),
    "write-coil-request": b"\x00\x00" + rtu(0x05, 0x05, 0x00, 0x10, 0xFF, 0x00),
    "sdm120-voltage-response": b"\x01\x00" + rtu(0x01, 0x04, 0x04, 0x43, 0x66, 0x80, 0x00),
    "exception-response": b"\x01\x02" + rtu(0x01, 0x83, 0x02),
    "coils-response-after-garbage": b"\x05\x07" + b"\x13\x37\x00" + rtu(0x11, 0x01, 0x02, 0xCD, 0x01),
    "device-id-response": b"\x01\x00" + rtu(0x01, 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x04, 0x53, 0x44, 0x4D, 0x31),
}

# modbus-values: scale (i16, exponent i8), offset (i16, exponent i8), registers big-endian.
seeds["modbus-values"] = {
    "float-230.5": b"\x00\x01\x00\x00\x00\x00" + struct.pack(">f", 230.5),
    "u32-energy-scaled": b"\x00\x01\xfe\x00\x00\x00" + struct.pack(">I", 1234567),
    "bcd-12345678": b"\x00\x01\x00\x00\x00\x00" + bytes([0x12, 0x34, 0x56, 0x78]),
    "i64-negative-offset": b"\x00\x0a\xff\xff\xf6\x00" + struct.pack(">q", -987654321012),
    "f64-nan": b"\x00\x01\x00\x00\x00\x00" + bytes([0x7F, 0xF8, 0, 0, 0, 0, 0, 1]),
}

# modbus-tcp: chunk seed, request kind (0 coil, 1 register, 2 registers, else read), address,
# kind's parameters, transaction, unit; then the replies (MBAP header + PDU).
def mbap(transaction, unit, pdu):
    return struct.pack(">HHH", transaction, 0, len(pdu) + 1) + bytes([unit]) + bytes(pdu)

read2 = b"\x03\x00\x00" + b"\x02" + struct.pack(">H", 1) + struct.pack(">H", 1) + b"\x01"
seeds["modbus-tcp"] = {
    "read-holding-two-replies": b"\x00" + read2 + mbap(1, 1, [0x03, 0x04, 0x43, 0x66, 0x80, 0x00])
        + mbap(2, 1, [0x03, 0x04, 0x00, 0x01, 0x00, 0x02]),
    "read-chunked-stale-first": b"\x04" + read2 + mbap(0, 1, [0x03, 0x02, 0x00, 0x07]) + mbap(1, 1, [0x03, 0x04, 0, 1, 0, 2]),
    "read-coils": b"\x00\x03\x00\x10" + b"\x00" + struct.pack(">H", 9) + struct.pack(">H", 7) + b"\x11"
        + mbap(7, 0x11, [0x01, 0x02, 0xCD, 0x01]),
    "exception": b"\x00" + read2 + mbap(1, 1, [0x83, 0x02]),
    "write-register-echo": b"\x00\x01\x00\x20" + struct.pack(">H", 0x1234) + struct.pack(">H", 9) + b"\x01"
        + mbap(9, 1, [0x06, 0x00, 0x20, 0x12, 0x34]),
    "write-coil-echo": b"\x00\x00\x00\x05\x01" + struct.pack(">H", 3) + b"\x01" + mbap(3, 1, [0x05, 0x00, 0x05, 0xFF, 0x00]),
    "write-registers-echo": b"\x00\x02\x00\x40\x02" + struct.pack(">H", 4) + b"\x01" + mbap(4, 1, [0x10, 0x00, 0x40, 0x00, 0x02]),
}

# dlt645: chunk seed, capacity byte, stream.
meter = [0x78, 0x56, 0x34, 0x12, 0x00, 0x00]
seeds["dlt645"] = {
    "read-energy-request": b"\x00\x40" + dlt645(meter, 0x11, [0x00, 0x00, 0x00, 0x00]),
    "read-energy-reply": b"\x00\x40" + dlt645(meter, 0x91, [0x00, 0x00, 0x00, 0x00, 0x67, 0x45, 0x23, 0x01]),
    "read-address-broadcast": b"\x03\x40" + dlt645([0xAA] * 6, 0x13, []),
    "error-reply": b"\x00\x40" + dlt645(meter, 0xD1, [0x02]),
    "clock-reply-chunked": b"\x05\x40" + dlt645(meter, 0x91, [0x01, 0x01, 0x00, 0x04, 0x05, 0x12, 0x24, 0x06]),
    "status-word-reply": b"\x00\x40" + dlt645(meter, 0x91, [0x01, 0x05, 0x00, 0x04, 0x10, 0x00]),
    "relay-command": b"\x00\x40" + dlt645(meter, 0x1C, [0x02, 0, 0, 0, 0x11, 0x11, 0x11, 0x11, 0x1A, 0x00, 0, 0, 0, 0, 0, 0]),
    "garbage-then-frame": b"\x02\x10" + b"\x68\x11\x16\xfe" + dlt645(meter, 0x93, meter),
}

# cjt188: chunk seed, stream.
water = [0x01, 0x23, 0x45, 0x67, 0x89, 0x00, 0x00]
current = [0x1F, 0x90, 0x00] + [0x45, 0x23, 0x01, 0x00, 0x2C] + [0x00, 0x20, 0x01, 0x00, 0x2C] \
    + [0x30, 0x15, 0x12, 0x05, 0x12, 0x26, 0x20] + [0x00, 0x00]
seeds["cjt188"] = {
    "read-request": b"\x00" + cjt188(0x10, water, 0x01, [0x1F, 0x90, 0x00]),
    "read-reply": b"\x00" + cjt188(0x10, water, 0x81, current),
    "read-reply-chunked-preamble": b"\x04" + b"\xfe\xfe" + cjt188(0x30, water, 0x81, current),
    "valve-close": b"\x00" + cjt188(0x10, water, 0x04, [0xA0, 0x17, 0x01, 0x99]),
    "error-reply": b"\x00" + cjt188(0x10, water, 0xC1, [0x00, 0x01]),
}

# rdm6300: chunk seed, stream.
seeds["rdm6300"] = {
    "one-tag": b"\x00" + rdm6300(bytes([0x0F, 0x00, 0x2A, 0x3B, 0x4C])),
    "two-tags-chunked": b"\x03" + rdm6300(bytes([0x12, 0x34, 0x56, 0x78, 0x9A])) + rdm6300(bytes([0x01, 0x02, 0x03, 0x04, 0x05])),
    "noise-then-tag": b"\x00" + b"\x02\x30\x03\xff" + rdm6300(bytes([0x55, 0xAA, 0x00, 0xFF, 0x10])),
}

# pn532: chunk seed, mode (bit 0: a card in the field, bit 1: 7-byte uid, bit 2: wait times out),
# decoder capacity byte, host-to-chip stream.
seeds["pn532"] = {
    "get-firmware-version": b"\x00\x00\x40" + b"\x55\x55\x00\x00\x00" + pn532([0xD4, 0x02]),
    "sam-configuration": b"\x00\x00\x40" + pn532([0xD4, 0x14, 0x01, 0x14, 0x01]),
    "in-list-passive-target-card": b"\x02\x01\x40" + pn532([0xD4, 0x4A, 0x01, 0x00]),
    "in-auto-poll-no-card-ack": b"\x00\x04\x40" + pn532([0xD4, 0x60, 0x01, 0x01, 0x10]) + b"\x00\x00\xff\x00\xff\x00",
    "in-data-exchange-7-byte": b"\x00\x03\x40" + pn532([0xD4, 0x4A, 0x01, 0x00]) + pn532([0xD4, 0x40, 0x01, 0x30, 0x04]),
    "nack-and-extended": b"\x00\x00\x40" + b"\x00\x00\xff\xff\x00\x00" + bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, 0x00, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00]),
}

# command: an envelope as the broker delivers it, and a command payload on its own.
command = {"id": "cmd-0001", "gateway": "gw-demo", "device": "flat-301", "action": "relay.open",
           "params": {"reason": "arrears"}, "issued_at": 1764892800000, "expires_at": 1764893100000}
payload = json.dumps(command, separators=(",", ":")).encode()
credit = dict(command, id="cmd-0002", action="credit.add", params={"amount": 25.5, "kwh": 12})
seeds["command"] = {
    "envelope-relay-open": json.dumps({"key": "ops-1", "payload": base64.b64encode(payload).decode(),
                                       "sig": base64.b64encode(bytes(range(64))).decode()}).encode(),
    "payload-credit-add": json.dumps(credit).encode(),
    "payload-load-limit": json.dumps(dict(command, id="cmd-0003", action="load.limit", params={"kw": 5.5})).encode(),
    "envelope-bad-base64": b'{"key":"ops-1","payload":"e30=","sig":"***"}',
}

# site-config and profile: the repo's own files.
def files(pattern_dir, names):
    return {os.path.splitext(n)[0]: open(os.path.join(REPO, pattern_dir, n), "rb").read() for n in names}

seeds["site-config"] = files("Hardware/examples", ["demo-site.yaml", "dlt645-example-site.yaml", "cjt188-example-site.yaml"])
seeds["site-config"].update(files("Hardware/boards", ["moxa-uc8100-site.yaml", "raspberry-pi-rs485-hat-site.yaml"]))
seeds["profile"] = files("Hardware/profiles", ["eastron-sdm120.yaml", "dlt645-2007-generic.yaml", "cjt188-water-cold.yaml",
                                               "generic-modbus-relay-meter.yaml", "dlt645-1997-generic.yaml"])

# store-record: flags (bits 0-1: null/real/integer, 4: 64-bit exponent, 5: 64-bit quality,
# 6: series missing, 7: billing), value type, exponent, value, quality, ts, series id, names.
def record(flags, value_type, exponent, value, quality, names):
    b = bytes([flags, value_type])
    b += struct.pack(">q", exponent) if flags & 0x10 else struct.pack(">b", exponent)
    if flags & 3 == 1:
        b += struct.pack(">d", value)
    elif flags & 3:
        b += struct.pack(">q", value)
    b += struct.pack(">q", quality) if flags & 0x20 else struct.pack(">H", quality)
    b += struct.pack(">qq", 1764892800123, 7)
    return b + b"\x00".join(n.encode() for n in names)

seeds["store-record"] = {
    "billing-decimal": record(0x82, 1, -2, 1234567, 0, ["flat-301", "energy.import.total", "kWh"]),
    "real-voltage": record(0x01, 2, 0, 230.25, 0, ["flat-301", "voltage.l1", "V"]),
    "bool-exception": record(0x02, 3, 0, 1, 0x102, ["pump-2", "valve.state", ""]),
    "null-timeout": record(0x00, 0, 0, 0, 1, ["gas-7", "volume.total", "m3"]),
    "missing-series": record(0x42, 1, 0, 5, 0, []),
}

if __name__ == "__main__":
    for target, entries in seeds.items():
        folder = os.path.join(CORPUS, target)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in entries.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print("wrote", sum(len(e) for e in seeds.values()), "seeds for", len(seeds), "targets to", CORPUS, file=sys.stderr)
