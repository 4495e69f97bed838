"""Text, Markdown and log summaries: lines and words (and, for logs, lines per level).

Read as UTF-8 through an incremental decoder in pieces of at most ``PIECE`` characters,
so a file that is one enormous line still costs bounded memory."""

import io
import re
from typing import Any, BinaryIO

from service.workers.parsers.errors import ParseError

PIECE = 64 * 1024
LEVEL = re.compile(r"\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)\b", re.IGNORECASE)
_CANONICAL = {"WARN": "WARNING", "ERR": "ERROR", "PANIC": "CRITICAL", "FATAL": "CRITICAL"}
_WORD = re.compile(r"\S+")


def text_summary(stream: BinaryIO, kind: str) -> dict[str, Any]:
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")
    lines = words = characters = 0
    levels: dict[str, int] = {}
    at_line_start = True
    in_word = False
    try:
        while piece := text.readline(PIECE):
            if "\x00" in piece:
                raise ParseError(f"not a text file: NUL byte on line {lines + 1}")
            characters += len(piece)
            found = len(_WORD.findall(piece))
            if found and in_word and not piece[0].isspace():
                found -= 1  # the word went on from the previous piece
            words += found
            in_word = not piece[-1].isspace()
            if kind == "log" and at_line_start and (match := LEVEL.search(piece)):
                level = match.group(1).upper()
                level = _CANONICAL.get(level, level)
                levels[level] = levels.get(level, 0) + 1
            at_line_start = piece.endswith(("\n", "\r"))
            lines += at_line_start
    except UnicodeDecodeError as exc:
        raise ParseError(f"not valid UTF-8 text (around line {lines + 1}): {exc.reason}") from None
    if characters and not at_line_start:
        lines += 1  # a last line without a newline
    summary: dict[str, Any] = {"format": kind, "lines": lines, "words": words, "characters": characters}
    if kind == "log":
        summary["levels"] = levels
    return summary
