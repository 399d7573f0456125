#!/usr/bin/env python3
"""Ed25519 with PyPI `cryptography`, the independent peer of MeterCrypto and of
`meteragent keys generate` / `meteragent sign`.

usage: ed25519_peer.py check-keypair KEY_FILE PUB_FILE
         Loads KEY_FILE as unencrypted PKCS#8 PEM; prints {"ed25519": true, "matches": bool}:
         whether its public key is the base64 of PUB_FILE's one line.
       ed25519_peer.py verify PUB_FILE
         Reads one envelope {"key","payload","sig"} on stdin; prints {"keys": [...],
         "payload_hex": ..., "valid": bool}: the signature checked over the base64-decoded payload.
       ed25519_peer.py keygen KEY_FILE
         Makes a key, writes it to KEY_FILE as unencrypted PKCS#8 PEM (a head-end's key); prints the
         base64 of the raw public key, for a site config's `commands.keys`.
       ed25519_peer.py envelope KEY_FILE KEY_ID COMMAND_FILE
         Prints the command envelope {"key","payload","sig"} of COMMAND_FILE's exact bytes, signed
         with KEY_FILE, as a head-end would publish it on `<prefix>/cmd`.
       ed25519_peer.py sign HEX
         Makes a new key and signs the bytes HEX; prints {"public": base64 of the raw key,
         "public_pem": SubjectPublicKeyInfo PEM, "sig": base64 of the signature}.
Base64 is decoded strictly (binascii with validate=True), independently of our decoder.
"""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def strict_b64(text):
    return base64.b64decode(text.encode("ascii"), validate=True)


def read_pub(path):
    with open(path, "rb") as f:
        text = f.read().decode("ascii")
    if not text.endswith("\n") or text.count("\n") != 1:
        sys.exit(path + ": expected one line ending in a newline")
    return Ed25519PublicKey.from_public_bytes(strict_b64(text[:-1]))


def check_keypair(key_path, pub_path):
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    is_ed25519 = isinstance(key, Ed25519PrivateKey)
    raw = lambda k: k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    matches = is_ed25519 and raw(key.public_key()) == raw(read_pub(pub_path))
    print(json.dumps({"ed25519": is_ed25519, "matches": matches}))


def verify(pub_path):
    envelope = json.loads(sys.stdin.buffer.read())
    payload = strict_b64(envelope["payload"])
    try:
        read_pub(pub_path).verify(strict_b64(envelope["sig"]), payload)
        valid = True
    except InvalidSignature:
        valid = False
    print(json.dumps({"keys": sorted(envelope), "payload_hex": payload.hex(), "valid": valid}))


def sign(message_hex):
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    print(json.dumps({
        "public": base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode(),
        "public_pem": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "sig": base64.b64encode(key.sign(bytes.fromhex(message_hex))).decode(),
    }))


def keygen(key_path):
    key = Ed25519PrivateKey.generate()
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    print(base64.b64encode(raw).decode())


def envelope(key_path, key_id, command_path):
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    with open(command_path, "rb") as f:
        payload = f.read()
    print(json.dumps({"key": key_id, "payload": base64.b64encode(payload).decode(),
                      "sig": base64.b64encode(key.sign(payload)).decode()}))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"check-keypair": check_keypair, "verify": verify, "sign": sign, "keygen": keygen,
     "envelope": envelope}[command](*args)


if __name__ == "__main__":
    main()
