"""Content sniffing: do a file's first bytes match what its extension claims?

Pure rules over the first ``SNIFF_BYTES`` of an upload, run while it streams and before
anything is committed, so EXE bytes named ``.txt`` or text named ``.wav`` never land.
This is a cheap gate, not a parser: the worker's parse is the full check."""

import codecs
from dataclasses import dataclass, field

from service.domain.categories import extension_of
from service.errors import InvalidInput

SNIFF_BYTES = 4096  # enough for every rule below (tar's magic sits at offset 257)

_AUDIO_MAGIC = {
    ".wav": lambda h: h[:4] in (b"RIFF", b"RIFX", b"RF64") and h[8:12] == b"WAVE",
    ".mp3": lambda h: h[:3] == b"ID3" or (len(h) > 1 and h[0] == 0xFF and h[1] & 0xE0 == 0xE0),
    ".ogg": lambda h: h[:4] == b"OggS",
    ".flac": lambda h: h[:4] == b"fLaC" or h[:3] == b"ID3",  # an ID3 tag (cover art) may outgrow the window
}
_GZIP = lambda h: h[:2] == b"\x1f\x8b"  # noqa: E731
_ARCHIVE_MAGIC = {
    ".zip": lambda h: h[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"),
    ".gz": _GZIP,
    ".tgz": _GZIP,
    ".tar": lambda h: h[257:262] == b"ustar" or _tar_checksum_ok(h),
}
_IMAGE_MAGIC = {
    ".png": lambda h: h[:8] == b"\x89PNG\r\n\x1a\n",
    ".jpg": lambda h: h[:3] == b"\xff\xd8\xff",
    ".jpeg": lambda h: h[:3] == b"\xff\xd8\xff",
    ".webp": lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
}
# Columnar files carry their magic at both ends (the footer sits before the closing one).
_COLUMNAR_MAGIC = {".parquet": b"PAR1", ".arrow": b"ARROW1", ".feather": b"ARROW1"}
TAIL_BYTES = 8
_JSON_START = set(b'{["-0123456789tfn')
_TEXT_EXTENSIONS = {".txt", ".md", ".log"}
_DATA_EXTENSIONS = {".json", ".yaml", ".yml", ".csv", ".xml", ".jsonl", ".ndjson", ".tsv"}


def _tar_checksum_ok(head: bytes) -> bool:
    """An old (pre-POSIX) tar header has no magic, only a checksum over its 512 bytes."""
    if len(head) < 512 or not head[:100].strip(b"\x00"):
        return False
    try:
        stored = int(head[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(head[:148]) + 8 * 32 + sum(head[156:512])


def _text_of(head: bytes, complete: bool, what: str) -> str:
    """The window as UTF-8 (a character cut at the window's end is fine); no NUL bytes."""
    if b"\x00" in head:
        raise InvalidInput(f"{what} contains NUL bytes: not a text file")
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} is not valid UTF-8 text") from None


def _check_data(ext: str, text: str, name: str) -> None:
    body = text.lstrip("\ufeff \t\r\n")
    if not body:
        return  # empty or blank: the parser decides (an empty CSV is fine, empty JSON is not)
    if ext in (".json", ".jsonl", ".ndjson") and ord(body[0]) not in _JSON_START and body[0] != '"':
        raise InvalidInput(f"{name} does not start like JSON")
    if ext == ".xml" and not body.startswith("<"):
        raise InvalidInput(f"{name} does not start like XML (expected '<')")
    # YAML and CSV: any UTF-8 text without NUL can start them.


def check_content(filename: str, head: bytes, complete: bool) -> None:
    """Raise ``InvalidInput`` unless ``head`` (the first bytes, all of them if ``complete``)
    starts like a file of ``filename``'s type."""
    ext = extension_of(filename)
    name = repr(filename)
    if ext in _AUDIO_MAGIC:
        if not _AUDIO_MAGIC[ext](head):
            raise InvalidInput(f"{name} is not {ext[1:].upper()} audio (its first bytes do not match)")
    elif ext in _ARCHIVE_MAGIC:
        if not _ARCHIVE_MAGIC[ext](head):
            raise InvalidInput(f"{name} is not a {ext[1:]} archive (its first bytes do not match)")
    elif ext in _IMAGE_MAGIC:
        if not _IMAGE_MAGIC[ext](head):
            raise InvalidInput(f"{name} is not a {ext[1:].upper()} image (its first bytes do not match)")
    elif ext in _COLUMNAR_MAGIC:
        if not head.startswith(_COLUMNAR_MAGIC[ext]):
            raise InvalidInput(
                f"{name} is not a {ext[1:]} file (it does not start with {_COLUMNAR_MAGIC[ext].decode()})"
            )
    elif ext in _TEXT_EXTENSIONS:
        _text_of(head, complete, name)
    elif ext in _DATA_EXTENSIONS:
        _check_data(ext, _text_of(head, complete, name), name)


def check_tail(filename: str, tail: bytes) -> None:
    """Raise ``InvalidInput`` unless a complete file's last bytes end like its type (Parquet, Arrow)."""
    magic = _COLUMNAR_MAGIC.get(extension_of(filename))
    if magic is not None and not tail.endswith(magic):
        raise InvalidInput(
            f"{filename!r} is not a complete {extension_of(filename)[1:]} file (it does not end with {magic.decode()})"
        )


@dataclass
class Sniffer:
    """Collects the first ``SNIFF_BYTES`` of one file and checks them once; for types with a
    closing magic it also keeps the last few bytes and checks them when the file is complete."""

    filename: str
    head: bytearray = field(default_factory=bytearray)
    done: bool = False
    tail: bytes | None = None  # kept only for types checked at both ends

    def __post_init__(self) -> None:
        if extension_of(self.filename) in _COLUMNAR_MAGIC:
            self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if self.tail is not None:
            self.tail = (self.tail + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
        if self.done:
            return
        self.head += chunk[: SNIFF_BYTES - len(self.head)]
        if len(self.head) >= SNIFF_BYTES:
            self.finish(complete=False)

    def finish(self, complete: bool = True) -> None:
        if not self.done:
            self.done = True
            head, self.head = bytes(self.head), bytearray()
            check_content(self.filename, head, complete)
        if complete and self.tail is not None:
            tail, self.tail = self.tail, None  # checked once
            check_tail(self.filename, tail)
