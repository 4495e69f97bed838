"""Parse one stored file by its type and return its summary (raises ``ParseError``).

The parser runs in a thread over a synchronous view of the S3 object (``s3io``), so a
slow or CPU-heavy parse never stalls the worker's event loop (job heartbeats, other
jobs), and it is abandoned cleanly at ``timeout``. Its result is bounded (``bounds``)
before it goes anywhere."""

from collections.abc import Callable
from typing import Any

from service.domain.categories import extension_of
from service.settings import Settings
from service.storage.reader import ObjectReader
from service.workers.parsers.bounds import ParseLimits, bound
from service.workers.parsers.errors import ParseError
from service.workers.parsers.s3io import Cancelled, run_over_object

__all__ = ["ParseError", "summarize"]


def parse_limits(settings: Settings) -> ParseLimits:
    return ParseLimits(settings.parse_max_depth, settings.summary_max_string, settings.summary_max_bytes)


def _parser_for(ext: str, size: int, settings: Settings) -> tuple[bool, Callable[[Any], dict[str, Any]]]:
    """(needs random access, parse function of a binary file object)."""
    from service.workers.parsers import columnar, image, jsonl, media, structured, text

    limits = media.ArchiveLimits(settings.archive_max_entries, settings.archive_max_unpacked,
                                 settings.archive_max_ratio, settings.summary_max_string)
    bounds = parse_limits(settings)
    table: dict[str, tuple[bool, Callable[[Any], dict[str, Any]]]] = {
        ".json": (False, lambda f: structured.json_summary(f, bounds)),
        ".yaml": (False, lambda f: structured.yaml_summary(f, bounds)),
        ".yml": (False, lambda f: structured.yaml_summary(f, bounds)),
        ".csv": (False, lambda f: structured.csv_summary(f, bounds)),
        ".xml": (False, lambda f: structured.xml_summary(f, bounds)),
        ".txt": (False, lambda f: text.text_summary(f, "text")),
        ".md": (False, lambda f: text.text_summary(f, "markdown")),
        ".log": (False, lambda f: text.text_summary(f, "log")),
        ".zip": (True, lambda f: media.zip_summary(f, size, limits)),
        ".tar": (False, lambda f: media.tar_summary(f, size, limits, ".tar")),
        ".tgz": (False, lambda f: media.tar_summary(f, size, limits, ".tgz")),
        ".gz": (True, lambda f: media.tar_summary(f, size, limits, ".gz")),
    }
    table.update({
        ".jsonl": (False, lambda f: jsonl.jsonl_summary(f, bounds)),
        ".ndjson": (False, lambda f: jsonl.jsonl_summary(f, bounds)),
        ".tsv": (False, lambda f: structured.csv_summary(f, bounds, delimiter="\t")),
        ".parquet": (True, lambda f: columnar.parquet_summary(f, size)),
        ".arrow": (True, lambda f: columnar.arrow_summary(f, size)),
        ".feather": (True, lambda f: columnar.arrow_summary(f, size)),
    })
    for picture in (".png", ".jpg", ".jpeg", ".webp"):
        table[picture] = (False, lambda f, ext=picture: image.image_summary(f, ext))
    for audio in (".wav", ".mp3", ".ogg", ".flac"):
        table[audio] = (True, lambda f, ext=audio: media.audio_summary(f, ext))
    if ext not in table:
        raise ParseError(f"no parser for {ext or 'files without an extension'}")
    return table[ext]


async def summarize(
    objects: ObjectReader, bucket: str, key: str, filename: str, size: int, settings: Settings,
) -> dict[str, Any]:
    ext = extension_of(filename)
    seekable, parse = _parser_for(ext, size, settings)
    try:
        return await run_over_object(objects, bucket, key, size, seekable,
                                     lambda stream: bound(parse(stream), parse_limits(settings)),
                                     settings.process_timeout)
    except Cancelled:
        raise ParseError("parse cancelled") from None
