"""JSON Lines (``.jsonl``, ``.ndjson``): records, keys and the fine-tuning layout they follow.

Lines are read one at a time (each at most ``MAX_LINE`` bytes), so memory stays bounded by
one record whatever the file's size; orjson parses them (about 2.5x the standard library's
speed, which alone stays under 100 MiB/s on chat data: bench/results.md). The first object decides the layout (OpenAI chat,
ShareGPT or Alpaca); every later record is checked against it, and records that break it
are counted with a few line numbers, so a broken training file shows before a training run."""

from typing import Any, BinaryIO

import orjson

from service.workers.parsers.bounds import DEFAULT_LIMITS, ParseLimits, too_deep
from service.workers.parsers.errors import ParseError

MAX_LINE = 64 * 1024 * 1024  # one record; a longer line fails the file instead of filling memory
MAX_KEYS = 100
MAX_ROLES = 20  # distinct role names counted; the rest are counted under "(other)"
MAX_NAME = 64  # characters of a role name or key kept in the summary
SAMPLES = 10  # layout errors reported with their line numbers (all are counted)

_CHAT = ("messages", "role", "content")
_SHAREGPT = ("conversations", "from", "value")


def _layout_of(record: Any) -> str | None:
    if not isinstance(record, dict):
        return None
    if isinstance(record.get("messages"), list):
        return "openai_chat"
    if isinstance(record.get("conversations"), list):
        return "sharegpt"
    if "instruction" in record and "output" in record:
        return "alpaca"
    return None


def _turns_error(record: Any, fields: tuple[str, str, str]) -> str:
    """Why a chat-shaped record breaks its layout (the slow path, only for broken records)."""
    listing, role_key, text_key = fields
    if not isinstance(record, dict) or not isinstance(record.get(listing), list):
        return f"no {listing!r} list"
    if not record[listing]:
        return f"empty {listing!r} list"
    for number, turn in enumerate(record[listing]):
        if not isinstance(turn, dict):
            return f"{listing}[{number}] is not an object"
        role = turn.get(role_key)
        if not isinstance(role, str) or not role:
            return f"{listing}[{number}] has no {role_key!r}"
        text = turn.get(text_key, ...)
        if text is ... or (text is not None and not isinstance(text, (str, list))):
            return f"{listing}[{number}] has no {text_key!r}"
    return "unexpected shape"


def _alpaca_error(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not an object"
    for key in ("instruction", "output"):
        if not isinstance(record.get(key), str):
            return f"no {key!r} string"
    if "input" in record and not isinstance(record["input"], str):
        return "'input' is not a string"
    return None


class _Layout:
    """Per-record checks and statistics of one detected layout. Roles and turns are counted
    over the records that follow the layout; the others are counted as layout errors."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields = _CHAT if name == "openai_chat" else _SHAREGPT
        self.roles: dict[str, int] = {}
        self.turn_counts: dict[int, int] = {}  # turns per record -> records
        self.errors = 0
        self.samples: list[dict[str, Any]] = []

    def check(self, record: Any, line: int) -> None:
        if self.name == "alpaca":
            error = _alpaca_error(record)
            if error is not None:
                self._error(line, error)
        elif not self._chat_ok(record):
            self._error(line, _turns_error(record, self.fields))

    def _chat_ok(self, record: Any) -> bool:
        """The hot path (one call per record of a chat file): validate, then count."""
        listing, role_key, text_key = self.fields
        try:
            turns = record[listing]
            if turns.__class__ is not list or not turns:
                return False
            for turn in turns:
                role, text = turn[role_key], turn[text_key]
                if (
                    role.__class__ is not str
                    or not role
                    or not (text is None or text.__class__ is str or text.__class__ is list)
                ):
                    return False
        except (KeyError, TypeError, IndexError):
            return False
        roles = self.roles
        for turn in turns:
            role = turn[role_key]
            if role in roles:
                roles[role] += 1
            else:
                self._new_role(role)
        self.turn_counts[len(turns)] = self.turn_counts.get(len(turns), 0) + 1
        return True

    def _new_role(self, role: str) -> None:
        name = role[:MAX_NAME]
        if name not in self.roles and len(self.roles) >= MAX_ROLES:
            name = "(other)"
        self.roles[name] = self.roles.get(name, 0) + 1

    def _error(self, line: int, error: str) -> None:
        self.errors += 1
        if len(self.samples) < SAMPLES:
            self.samples.append({"line": line, "error": error})

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layout": self.name, "layout_errors": self.errors, "layout_error_samples": self.samples}
        if self.name != "alpaca":
            counts = self.turn_counts
            records = sum(counts.values())
            total = sum(turns * n for turns, n in counts.items())
            out["roles"] = dict(sorted(self.roles.items()))
            out["turns"] = {
                "min": min(counts, default=0),
                "mean": round(total / records, 3) if records else 0,
                "max": max(counts, default=0),
            }
        return out


def _depth(record: Any) -> int:
    """How deep a parsed record nests (a scalar is 0, ``[]`` is 1), walked without recursion."""
    deepest, todo = 0, [(record, 1)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, level)
            todo.extend((v, level + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _too_deep(raw: bytes, record: Any, limit: int) -> bool:
    """``DEPOT_PARSE_MAX_DEPTH`` for one record; counting brackets is a cheap upper bound, so
    only a line with more brackets than the limit is walked (the common case costs two scans)."""
    return raw.count(b"[") + raw.count(b"{") > limit and _depth(record) > limit


def jsonl_summary(stream: BinaryIO, limits: ParseLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Records (one JSON value per non-blank line), top-level keys and the layout's statistics;
    a record nesting deeper than ``limits.max_depth`` fails the file like a deep JSON file."""
    records = blank = 0
    keys: dict[str, None] = {}
    layout: _Layout | None = None
    line = 0
    while True:
        raw = stream.readline(MAX_LINE + 1)
        if not raw:
            break
        line += 1
        if len(raw) > MAX_LINE:
            raise ParseError(f"invalid JSON Lines: line {line} is longer than {MAX_LINE} bytes")
        if not raw.strip():
            blank += 1
            continue
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON Lines: line {line}, column {exc.colno}: {exc.msg[:200]}") from None
        if _too_deep(raw, record, limits.max_depth):
            raise too_deep(f"JSON Lines record (line {line})", limits.max_depth)
        records += 1
        if record.__class__ is dict and len(keys) < MAX_KEYS and not record.keys() <= keys.keys():
            for key in record:
                if len(keys) < MAX_KEYS:
                    keys.setdefault(key[:MAX_NAME])
        if layout is None and records == 1:
            name = _layout_of(record)
            layout = _Layout(name) if name else None
        if layout is not None:
            layout.check(record, line)
    if records == 0:
        raise ParseError("invalid JSON Lines: the file holds no record")
    summary: dict[str, Any] = {"format": "jsonl", "records": records, "blank_lines": blank, "keys": list(keys)}
    summary.update(layout.summary() if layout else {"layout": None})
    return summary
