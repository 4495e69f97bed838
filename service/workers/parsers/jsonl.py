"""JSON Lines (``.jsonl``, ``.ndjson``): records, keys and the fine-tuning layout they follow.

Lines are read one at a time (each at most ``MAX_LINE`` bytes), so memory stays bounded by
one record whatever the file's size. The first object decides the layout (OpenAI chat,
ShareGPT or Alpaca); every later record is checked against it, and records that break it
are counted with a few line numbers, so a broken training file shows before a training run."""

import json
from typing import Any, BinaryIO

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


def _turns_error(record: Any, fields: tuple[str, str, str], roles: dict[str, int]) -> tuple[str | None, int]:
    """Check one chat-shaped record; count its roles. (error or None, turns)."""
    listing, role_key, text_key = fields
    if not isinstance(record, dict) or not isinstance(record.get(listing), list):
        return f"no {listing!r} list", 0
    turns = record[listing]
    if not turns:
        return f"empty {listing!r} list", 0
    for number, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            return f"{listing}[{number - 1}] is not an object", len(turns)
        role = turn.get(role_key)
        if not isinstance(role, str) or not role:
            return f"{listing}[{number - 1}] has no {role_key!r}", len(turns)
        name = role[:MAX_NAME] if role in roles or len(roles) < MAX_ROLES else "(other)"
        roles[name] = roles.get(name, 0) + 1
        text = turn.get(text_key, ...)
        if text is ... or (text is not None and not isinstance(text, (str, list))):
            return f"{listing}[{number - 1}] has no {text_key!r}", len(turns)
    return None, len(turns)


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
    """Per-record checks and statistics of one detected layout."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.roles: dict[str, int] = {}
        self.turns: list[int] = []  # [min, max, total, records]
        self.errors = 0
        self.samples: list[dict[str, Any]] = []

    def check(self, record: Any, line: int) -> None:
        if self.name == "alpaca":
            error = _alpaca_error(record)
        else:
            error, turns = _turns_error(record, _CHAT if self.name == "openai_chat" else _SHAREGPT, self.roles)
            if error is None:
                self._count_turns(turns)
        if error is not None:
            self.errors += 1
            if len(self.samples) < SAMPLES:
                self.samples.append({"line": line, "error": error})

    def _count_turns(self, turns: int) -> None:
        if not self.turns:
            self.turns = [turns, turns, 0, 0]
        self.turns[0] = min(self.turns[0], turns)
        self.turns[1] = max(self.turns[1], turns)
        self.turns[2] += turns
        self.turns[3] += 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"layout": self.name, "layout_errors": self.errors, "layout_error_samples": self.samples}
        if self.name != "alpaca":
            low, high, total, records = self.turns or [0, 0, 0, 0]
            out["roles"] = dict(sorted(self.roles.items()))
            out["turns"] = {"min": low, "mean": round(total / records, 3) if records else 0, "max": high}
        return out


def jsonl_summary(stream: BinaryIO) -> dict[str, Any]:
    """Records (one JSON value per non-blank line), top-level keys and the layout's statistics."""
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
            record = json.loads(raw)
        except UnicodeDecodeError as exc:
            raise ParseError(f"invalid JSON Lines: line {line} is not UTF-8 ({exc.reason})") from None
        except json.JSONDecodeError as exc:
            raise ParseError(f"invalid JSON Lines: line {line}, column {exc.colno}: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"invalid JSON Lines: line {line}: {str(exc)[:200]}") from None
        records += 1
        if isinstance(record, dict) and len(keys) < MAX_KEYS:
            for key in record:
                if len(keys) >= MAX_KEYS:
                    break
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
