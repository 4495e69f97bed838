"""Standard Webhooks (https://www.standardwebhooks.com) signing: pure code, no I/O.

A signature is ``v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`` under a
secret written ``whsec_<base64 key>``. During a rotation several secrets are configured and the
message carries one signature per secret, space-separated, so receivers holding either the old or
the new secret accept it. Written here rather than imported so the tests' verifier (the
``standardwebhooks`` package) is an independent implementation."""

import base64
import binascii
import hashlib
import hmac
import re

PREFIX = "whsec_"
MIN_KEY_BYTES = 24  # the spec asks for 24 to 64 random bytes


def parse_secrets(setting: str) -> list[bytes]:
    """The keys of a space- or comma-separated list of ``whsec_<base64>`` secrets."""
    keys = []
    for secret in (s for s in re.split(r"[\s,]+", setting.strip()) if s):
        if not secret.startswith(PREFIX):
            raise ValueError("a webhook secret must look like whsec_<base64 of 24 to 64 random bytes>")
        try:
            key = base64.b64decode(secret[len(PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret's part after whsec_ must be base64") from None
        if not MIN_KEY_BYTES <= len(key) <= 64:
            raise ValueError(f"a webhook secret must hold 24 to 64 bytes (one holds {len(key)})")
        keys.append(key)
    return keys


def sign(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys)


def new_secret() -> str:
    """A fresh ``whsec_`` secret of 32 random bytes."""
    import secrets

    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
