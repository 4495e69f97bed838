"""Small real files of every ingestible type, made by the tests (good and malformed)."""

import gzip
import io
import json
import math
import struct
import tarfile
import wave
import zipfile


def wav(seconds: float = 0.25, rate: int = 16000, channels: int = 2) -> bytes:
    """A real PCM WAV: a 440 Hz tone."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = int(seconds * rate)
        tone = [int(12000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames)]
        w.writeframes(b"".join(struct.pack("<" + "h" * channels, *([s] * channels)) for s in tone))
    return out.getvalue()


def zip_archive(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        z.writestr(zipfile.ZipInfo("docs/"), b"")
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def tar_archive(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMBERS = {"docs/a.txt": b"alpha " * 300, "b.json": json.dumps({"k": list(range(50))}).encode()}
TEXT_WINDOW = b"fine line\n" * 500  # 5000 bytes: longer than the 4 KiB the upload sniffs

# name -> (content, expected summary subset)
GOOD = {
    "records.json": (json.dumps([{"id": 1, "q": "a"}, {"id": 2, "a": "b"}, {"id": 3}]).encode(),
                     {"format": "json", "root": "array", "records": 3, "keys": ["id", "q", "a"]}),
    "config.yaml": (b"name: echo\nversion: 2\nvoices:\n  - a\n  - b\n---\nother: true\n",
                    {"format": "yaml", "documents": 2, "keys": ["name", "version", "voices", "other"]}),
    "qa.csv": (b"question,answer\nhi,hello\n\"multi\nline\",x\nbye,ciao\n",
               {"format": "csv", "header": ["question", "answer"], "columns": 2, "rows": 3}),
    "feed.xml": (b"<?xml version='1.0'?><feed><item id='1'><t>a</t></item><item/></feed>",
                 {"format": "xml", "root": "feed", "elements": 4}),
    "notes.txt": (b"one two three\nfour five\n\nsix", {"format": "text", "lines": 4, "words": 6}),
    "readme.md": (b"# Title\n\nSome *words* here.\n", {"format": "markdown", "lines": 3, "words": 5}),
    "app.log": (b"2026-01-01 INFO started\n2026-01-01 WARN slow\n2026-01-01 ERROR boom\n2026-01-01 INFO ok\n",
                {"format": "log", "lines": 4, "levels": {"INFO": 2, "WARNING": 1, "ERROR": 1}}),
    "voice.wav": (wav(), {"format": "wave", "duration_seconds": 0.25, "sample_rate": 16000, "channels": 2}),
    "bundle.zip": (zip_archive(MEMBERS), {"format": "zip", "members": 3, "files": 2, "directories": 1,
                                          "total_uncompressed": sum(map(len, MEMBERS.values()))}),
    "bundle.tar": (tar_archive(MEMBERS), {"format": "tar", "members": 2,
                                          "total_uncompressed": sum(map(len, MEMBERS.values()))}),
    "bundle.tgz": (tar_archive(MEMBERS, "w:gz"), {"format": "tar.gz", "members": 2}),
    "data.gz": (gzip.compress(b"x,y\n" * 1000), {"format": "gzip", "members": 1, "total_uncompressed": 4000}),
}

# name -> (content that passes the upload's sniffing, words the failure must contain)
MALFORMED = {
    "broken.json": (b'{"a": 1, "b": [1, 2', "invalid JSON"),
    "broken.yaml": (b"a: [1, 2\nb: }\n", "invalid YAML"),
    "broken.csv": (b'a,b\n"never closed,1\n', "invalid CSV"),
    "broken.xml": (b"<root><a></root>", "invalid XML: mismatched tag"),
    "broken.txt": (TEXT_WINDOW + b"\xff\xfe bad\n", "not valid UTF-8"),
    "broken.md": (TEXT_WINDOW + b"nul \x00 here\n", "NUL byte"),
    "broken.log": (TEXT_WINDOW + b"\xc3\x28\n", "not valid UTF-8"),
    "broken.wav": (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunkjunk", "unreadable WAV audio"),
    "broken.zip": (b"PK\x03\x04" + b"\x00" * 60, "invalid ZIP"),
    "broken.tar": (tar_archive(MEMBERS)[:700], "invalid tar archive"),
    "broken.tgz": (b"\x1f\x8b\x08\x00" + b"\x07" * 40, "invalid tgz archive"),
    "broken.gz": (b"\x1f\x8b\x08\x00" + b"\x07" * 40, "invalid gzip"),
}
