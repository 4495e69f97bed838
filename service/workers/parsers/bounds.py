"""Limits on what one file's parse may produce: nesting depth, string length, result size.

A summary travels into the manifest, the index, the ``file.processed`` event and every
webhook, so a small hostile file must not become a large result there. Strings are cut
as they are collected (a 10 MB JSON key is never held whole in a summary), and a summary
still larger than the result cap is trimmed (its longest lists shortened) and flagged
``"truncated": true``: the file is valid, only its description is shortened."""

import json
from dataclasses import dataclass
from typing import Any

from service.workers.parsers.errors import ParseError

ELLIPSIS = "…"


@dataclass(frozen=True)
class ParseLimits:
    max_depth: int = 128  # nesting of JSON, YAML and XML
    max_string: int = 1024  # characters of one name or key in a summary
    max_result: int = 64 * 1024  # bytes of one summary as JSON


DEFAULT_LIMITS = ParseLimits()


def clip(value: str, max_string: int) -> str:
    """``value`` cut to ``max_string`` characters (an ellipsis marks the cut)."""
    return value if len(value) <= max_string else value[:max_string] + ELLIPSIS


def too_deep(kind: str, limit: int) -> ParseError:
    return ParseError(f"{kind} nests deeper than {limit} levels (the limit, DEPOT_PARSE_MAX_DEPTH)")


def _clip_all(value: Any, max_string: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        cut = clip(value, max_string)
        return cut, cut is not value
    if isinstance(value, list):
        pairs = [_clip_all(v, max_string) for v in value]
        return [v for v, _ in pairs], any(c for _, c in pairs)
    if isinstance(value, dict):
        out, cut = {}, False
        for key, item in value.items():
            new_key, key_cut = _clip_all(str(key), max_string)
            out[new_key], item_cut = _clip_all(item, max_string)
            cut = cut or key_cut or item_cut
        return out, cut
    return value, False


def _size(summary: dict[str, Any]) -> int:
    return len(json.dumps(summary, ensure_ascii=False).encode("utf-8", "surrogatepass"))


def bound(summary: dict[str, Any], limits: ParseLimits) -> dict[str, Any]:
    """The summary with every string clipped and, past ``max_result`` bytes, its longest lists
    halved until it fits; ``truncated: true`` when anything was cut."""
    summary, cut = _clip_all(summary, limits.max_string)
    while _size(summary) > limits.max_result:
        lists = [(len(json.dumps(v)), k) for k, v in summary.items() if isinstance(v, list) and v]
        if not lists:
            raise ParseError(f"the file's summary is larger than {limits.max_result} bytes")
        _, longest = max(lists)
        summary[longest] = summary[longest][: len(summary[longest]) // 2]
        cut = True
    if cut:
        summary["truncated"] = True
    return summary
