"""The ``depot`` client's pure parts: the streamed multipart body (read back by the server's own
parser), config precedence, path expansion and option parsing."""

import asyncio
import threading
import time
from pathlib import Path

import pytest

from service.api.multipart import PartData, PartEnd, PartStart, multipart_events
from service.client.commands import parse_rate
from service.client.config import DEFAULT_URL, resolve
from service.client.errors import ClientError
from service.client.multipart import Cancelled, FilePart, RateLimiter, encode
from service.client.uploader import expand


def parse(content_type: str, chunks: list[bytes]) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, bytes) per part, in order, as the server sees them."""

    async def run() -> list:
        async def stream():
            for chunk in chunks:
                yield chunk

        parts, current = [], None
        async for event in multipart_events(stream(), content_type):
            if isinstance(event, PartStart):
                current = [event.name, event.filename, b""]
            elif isinstance(event, PartData):
                current[2] += event.data
            elif isinstance(event, PartEnd):
                parts.append(tuple(current))
        return parts

    return asyncio.run(run())


def test_fields_come_before_the_file_and_the_length_is_exact(tmp_path: Path):
    data = bytes(range(256)) * 3000
    path = tmp_path / 'odd "name".csv'
    path.write_bytes(data)
    seen: list[int] = []
    headers, length, body = encode({"purpose": "training", "description": "zoë's set"},
                                   FilePart(path, path.name, len(data)), seen.append)
    chunks = list(body)
    assert int(headers["Content-Length"]) == length == sum(map(len, chunks))
    assert sum(seen) == len(data) and max(seen) <= 256 * 1024  # streamed in chunks, progress per chunk
    parts = parse(headers["Content-Type"], chunks)
    assert [(n, f) for n, f, _ in parts] == [("purpose", None), ("description", None), ("file", 'odd %22name%22.csv')]
    assert parts[1][2].decode() == "zoë's set"
    assert parts[2][2] == data


def test_a_file_that_changes_or_a_cancel_stops_the_body(tmp_path: Path):
    path = tmp_path / "grow.log"
    path.write_bytes(b"x" * 10)
    _, _, body = encode({}, FilePart(path, path.name, 5))
    with pytest.raises(ClientError, match="grew"):
        list(body)
    stop = threading.Event()
    stop.set()
    _, _, body = encode({}, FilePart(path, path.name, 10), cancelled=stop)
    with pytest.raises(Cancelled):
        list(body)


def test_rate_limiter_spreads_bytes_over_time():
    limiter = RateLimiter(200_000)
    started = time.monotonic()
    for _ in range(5):
        limiter.take(20_000)
    assert time.monotonic() - started >= 0.35


def test_config_precedence_flag_then_file_then_default(tmp_path: Path):
    (tmp_path / "depot").mkdir()
    (tmp_path / "depot" / "config.toml").write_text('url = "http://files.example:9000/"\napi_key = "k1"\n')
    from_file = resolve(None, None, None, str(tmp_path))
    assert (from_file.url, from_file.api_key) == ("http://files.example:9000", "k1")
    flags = resolve("http://other:1", "k2", None, str(tmp_path))
    assert (flags.url, flags.api_key) == ("http://other:1", "k2")
    assert resolve(None, None, None, str(tmp_path / "nowhere")).url == DEFAULT_URL
    with pytest.raises(ClientError, match="does not exist"):
        resolve(None, None, str(tmp_path / "missing.toml"), None)
    with pytest.raises(ClientError, match="must start with http"):
        resolve("ftp://x", None, None, str(tmp_path / "nowhere"))
    (tmp_path / "bad.toml").write_text('url = "http://x"\ntoken = "typo"\n')
    with pytest.raises(ClientError, match="unknown keys token"):
        resolve(None, None, str(tmp_path / "bad.toml"), None)


def test_expand_skips_hidden_files_and_descends_only_when_recursive(tmp_path: Path):
    for name in ("a.txt", ".DS_Store", "sub/b.txt", ".git/c.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    flat, _ = expand([tmp_path], recursive=False)
    deep, problems = expand([tmp_path, tmp_path / "a.txt", tmp_path / "missing.wav"], recursive=True)
    assert [p.name for p in flat] == ["a.txt"]
    assert sorted(p.name for p in deep) == ["a.txt", "b.txt"]  # a.txt once, though named twice
    assert [(o.file, o.status) for o in problems] == [(str(tmp_path / "missing.wav"), "failed")]


@pytest.mark.parametrize(("text", "expected"), [("500K", 512_000), ("2M", 2 * 1024**2), ("1GiB", 1024**3),
                                                ("1000", 1000), (None, None)])
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


def test_parse_rate_rejects_nonsense():
    with pytest.raises(ClientError):
        parse_rate("fast")
