"""The DEPOT_API_KEYS format and key matching (no servers)."""

import json

import pytest

from service.domain.apikeys import entry_for, hash_key, lookup, new_key, parse_keys, parse_scopes
from service.domain.categories import Purpose


def test_a_new_key_matches_only_its_own_hash():
    key = new_key()
    assert key.startswith("dpk_") and len(key) > 40 and new_key() != key
    keys = parse_keys(json.dumps([entry_for("ci", hash_key(key), parse_scopes("read,write"), Purpose.training)]))
    found = lookup(keys, key)
    assert found is not None and found.name == "ci" and found.purpose is Purpose.training
    assert found.allows("write") and not found.allows("delete")
    assert lookup(keys, key + "x") is None and lookup(keys, hash_key(key)) is None and lookup(keys, "") is None


def test_admin_includes_every_scope_and_empty_config_means_off():
    admin = next(iter(parse_keys(json.dumps({"hash": hash_key("k"), "scopes": ["admin"]})).values()))
    assert all(admin.allows(s) for s in ("read", "write", "delete", "admin"))
    assert parse_keys("") == {} and parse_keys("  ") == {}


@pytest.mark.parametrize("raw", [
    "nope", '{"hash": "k", "scopes": ["read"]}', '[{"hash": "sha256:abc", "scopes": ["read"]}]',
    json.dumps([{"hash": hash_key("k"), "scopes": []}]), json.dumps([{"hash": hash_key("k"), "scopes": ["root"]}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "purpose": "models"}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "extra": 1}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"]}, {"hash": hash_key("k"), "scopes": ["write"]}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "name": "has space"}]), "[1]", '"string"',
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "rate_limit_per_minute": -1}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "rate_limit_burst": 0}]),
    json.dumps([{"hash": hash_key("k"), "scopes": ["read"], "rate_limit_burst": "5"}]),
])
def test_bad_config_is_refused(raw):
    with pytest.raises(ValueError):
        parse_keys(raw)


def test_a_key_may_carry_its_own_rate_limit():
    keys = parse_keys(json.dumps([{"hash": hash_key("a"), "scopes": ["read"], "rate_limit_per_minute": 6,
                                   "rate_limit_burst": 3}, {"hash": hash_key("b"), "scopes": ["read"]}]))
    assert (keys[hash_key("a")].rate_limit_per_minute, keys[hash_key("a")].rate_limit_burst) == (6, 3)
    assert (keys[hash_key("b")].rate_limit_per_minute, keys[hash_key("b")].rate_limit_burst) == (None, None)


def test_keys_create_writes_a_keys_own_rate_limit():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "service", "keys", "create", "--name", "public",
                          "--rate-limit-per-minute", "6", "--rate-limit-burst", "3"],
                         capture_output=True, text=True, check=True).stdout
    entry = json.loads(out.split("entry:", 1)[1])
    assert (entry["rate_limit_per_minute"], entry["rate_limit_burst"]) == (6, 3)
    assert next(iter(parse_keys(json.dumps([entry])).values())).rate_limit_burst == 3
