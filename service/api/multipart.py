"""Incremental ``multipart/form-data`` parsing over a byte stream.

python-multipart is a push parser: we feed it chunks as they arrive and turn its
callbacks into a flat sequence of events, so the body never has to be held whole."""

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import InvalidInput

MAX_HEADER_BYTES = 16 * 1024


@dataclass(frozen=True)
class PartStart:
    name: str
    filename: str | None
    content_type: str | None


@dataclass(frozen=True)
class PartData:
    data: bytes


@dataclass(frozen=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        raise InvalidInput("the request must be multipart/form-data")
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidInput("multipart/form-data without a valid boundary")
    return boundary


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_WINDOWS_PATH = re.compile(rb'filename="(?:[A-Za-z]:|\\\\)')


def _names_a_windows_path(disposition: bytes) -> bool:
    """A drive (``C:\\...``) or UNC (``\\\\server\\...``) filename, before the parser trims it."""
    return _WINDOWS_PATH.search(disposition) is not None


class _Collector:
    """Receives the parser's callbacks; ``events`` is drained after every chunk."""

    def __init__(self, max_parts: int) -> None:
        self.events: list[Event] = []
        self.max_parts = max_parts
        self.parts = 0
        self.finished = False
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._header_bytes = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise InvalidInput(f"more than {self.max_parts} parts in one request")
        self._headers = {}
        self._header_bytes = 0

    def _grow(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            raise InvalidInput("multipart part headers too large")

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._grow(end - start)
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise InvalidInput("a multipart part lacks Content-Disposition: form-data; name=...")
        filename = options.get(b"filename")
        if filename is not None and _names_a_windows_path(self._headers.get(b"content-disposition", b"")):
            # python-multipart keeps only the last segment of such names; refuse them instead.
            raise InvalidInput("filename must be a bare name, not a path")
        content_type = self._headers.get(b"content-type")
        self.events.append(
            PartStart(
                name=_decode(options[b"name"]),
                filename=None if filename is None else _decode(filename),
                content_type=None if content_type is None else _decode(content_type),
            )
        )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if end > start:
            self.events.append(PartData(bytes(data[start:end])))

    def on_part_end(self) -> None:
        self.events.append(PartEnd())

    def on_end(self) -> None:
        self.finished = True


async def multipart_events(
    chunks: AsyncIterator[bytes], content_type: str | None, max_parts: int = 1000
) -> AsyncIterator[Event]:
    """Yield part events as the body streams in; a malformed or truncated body is a 400."""
    collector = _Collector(max_parts)
    parser = MultipartParser(boundary_of(content_type), collector.callbacks())
    async for chunk in chunks:
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidInput(f"malformed multipart body: {exc}") from None
        events, collector.events = collector.events, []
        for event in events:
            yield event
        if collector.finished:
            break
    if not collector.finished:
        raise InvalidInput("the multipart body ended before its closing boundary")
