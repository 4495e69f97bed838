"""API keys: generation, hashing and the ``DEPOT_API_KEYS`` format (pure, no I/O).

``DEPOT_API_KEYS`` is a JSON list; each entry holds a key's hash, never the key::

    [{"name": "ci", "hash": "sha256:<64 hex>", "scopes": ["read", "write"], "purpose": "training"}]

Keys are 256 random bits, so a single SHA-256 is enough: a KDF slows down guessing of
low-entropy secrets such as passwords, and guessing 2^256 values is out of reach anyway.
It also keeps the per-request cost to one hash and one dict lookup."""

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass

from service.domain.categories import Purpose

SCOPES = ("read", "write", "delete", "admin")
KEY_PREFIX = "dpk_"
_HASH = re.compile(r"sha256:[0-9a-f]{64}")  # both checked with fullmatch
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class ApiKey:
    """One configured key: who it is, what it may do, and optionally which purpose only."""

    name: str
    hash: str
    scopes: frozenset[str]
    purpose: Purpose | None = None
    rate_limit_per_minute: int | None = None  # this key's own limit; None: DEPOT_RATE_LIMIT_PER_MINUTE
    rate_limit_burst: int | None = None  # this key's own burst; None: DEPOT_RATE_LIMIT_BURST

    def allows(self, scope: str) -> bool:
        """``admin`` includes every other scope."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def ident(self) -> str:
        """A stable, non-secret id for logs and rate-limit buckets."""
        return f"{self.name}:{self.hash[7:19]}"


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh key: ``dpk_`` and 43 URL-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def parse_scopes(raw: list[str] | str) -> frozenset[str]:
    items = [s.strip() for s in (raw.split(",") if isinstance(raw, str) else raw) if s.strip()]
    unknown = sorted(set(items) - set(SCOPES))
    if unknown or not items:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}; got {items!r}")
    return frozenset(items)


def entry_for(name: str, key_hash: str, scopes: frozenset[str], purpose: Purpose | None) -> dict:
    """The JSON object a key takes in ``DEPOT_API_KEYS``."""
    entry: dict = {"name": name, "hash": key_hash, "scopes": [s for s in SCOPES if s in scopes]}
    if purpose is not None:
        entry["purpose"] = purpose.value
    return entry


def parse_keys(raw: str) -> dict[str, ApiKey]:
    """``DEPOT_API_KEYS`` → {hash: key}; empty means no keys (auth off). Bad config raises ValueError."""
    if not raw.strip():
        return {}
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"DEPOT_API_KEYS is not JSON: {exc}") from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise ValueError("DEPOT_API_KEYS must be a JSON list of key objects")
    keys: dict[str, ApiKey] = {}
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ValueError(f"DEPOT_API_KEYS entry {number} is not an object")
        unknown = set(item) - {"name", "hash", "scopes", "purpose", *_LIMITS}
        if unknown:
            raise ValueError(f"DEPOT_API_KEYS entry {number}: unknown fields {sorted(unknown)}")
        key_hash = str(item.get("hash", "")).lower()
        if not _HASH.fullmatch(key_hash):
            raise ValueError(f"DEPOT_API_KEYS entry {number}: hash must be 'sha256:<64 hex>' (never the key)")
        name = str(item.get("name") or f"key{number}")
        if not _NAME.fullmatch(name):
            raise ValueError(f"DEPOT_API_KEYS entry {number}: name must match {_NAME.pattern}")
        purpose = item.get("purpose")
        if purpose is not None and purpose not in Purpose.__members__:
            raise ValueError(f"DEPOT_API_KEYS entry {number}: purpose must be one of {[p.value for p in Purpose]}")
        if key_hash in keys:
            raise ValueError(f"DEPOT_API_KEYS entry {number}: the same key is configured twice")
        keys[key_hash] = ApiKey(name, key_hash, parse_scopes(item.get("scopes") or []),
                                Purpose(purpose) if purpose else None, *_limits(item, number))
    return keys


_LIMITS = {"rate_limit_per_minute": 0, "rate_limit_burst": 1}  # optional per-key fields and their minimum


def _limits(item: dict, number: int) -> list[int | None]:
    """A key's own rate limit and burst (``None``: the global setting), checked like the settings."""
    found: list[int | None] = []
    for field_name, least in _LIMITS.items():
        value = item.get(field_name)
        if value is not None and (type(value) is not int or value < least):
            raise ValueError(f"DEPOT_API_KEYS entry {number}: {field_name} must be an integer >= {least}")
        found.append(value)
    return found


def lookup(keys: dict[str, ApiKey], presented: str) -> ApiKey | None:
    """The key whose hash matches; compared in constant time after the lookup."""
    digest = hash_key(presented)
    found = keys.get(digest)
    if found is None or not hmac.compare_digest(found.hash, digest):
        return None
    return found
