"""Small real ML data files made by the tests: JSONL layouts, Parquet, Arrow IPC, TSV and images."""

import io
import json
import struct
import zlib

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from PIL import Image


def jsonl(records: list) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


CHAT = [
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    },
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]},
    {"messages": [{"role": "user", "content": "bye"}, {"role": "assistant"}]},  # no content: breaks the layout
]
SHAREGPT = [{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}] * 3
ALPACA = [
    {"instruction": "add", "input": "1 2", "output": "3"},
    {"instruction": "greet", "output": "hi"},
    {"instruction": "broken"},
]


def table(rows: int = 10) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "text": pa.array([f"row {i}" for i in range(rows)]),
            "score": pa.array([i / 2 for i in range(rows)], pa.float32()),
        }
    )


def parquet(rows: int = 10, row_group_size: int = 4) -> bytes:
    out = io.BytesIO()
    pq.write_table(table(rows), out, row_group_size=row_group_size)
    return out.getvalue()


def arrow_file(batches: int = 3, rows: int = 5) -> bytes:
    out = io.BytesIO()
    data = table(rows)
    with ipc.new_file(out, data.schema) as writer:
        for _ in range(batches):
            writer.write_table(data)
    return out.getvalue()


def image(fmt: str, size: tuple[int, int] = (32, 24), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    picture = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 128)
    for x in range(size[0]):
        picture.putpixel((x, x % size[1]), (0, 0, 255) if mode == "RGB" else 0)
    picture.save(out, fmt)
    return out.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 100_000) -> bytes:
    """A valid PNG header claiming side x side pixels, with almost no data: a decompression bomb."""
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


PNG = image("PNG")
JPEG = image("JPEG", (64, 48))

# name -> (content, expected summary subset)
ML_GOOD = {
    "chat.jsonl": (
        jsonl(CHAT),
        {
            "format": "jsonl",
            "records": 3,
            "layout": "openai_chat",
            "keys": ["messages"],
            "roles": {"assistant": 2, "system": 1, "user": 2},
            "turns": {"min": 2, "mean": 2.5, "max": 3},
            "layout_errors": 1,
            "layout_error_samples": [{"line": 3, "error": "messages[1] has no 'content'"}],
        },
    ),
    "share.ndjson": (
        jsonl(SHAREGPT) + b"\n",
        {
            "format": "jsonl",
            "records": 3,
            "blank_lines": 1,
            "layout": "sharegpt",
            "roles": {"gpt": 3, "human": 3},
            "turns": {"min": 2, "mean": 2.0, "max": 2},
            "layout_errors": 0,
        },
    ),
    "alpaca.jsonl": (
        jsonl(ALPACA),
        {
            "format": "jsonl",
            "records": 3,
            "layout": "alpaca",
            "keys": ["instruction", "input", "output"],
            "layout_errors": 1,
            "layout_error_samples": [{"line": 3, "error": "no 'output' string"}],
        },
    ),
    "plain.jsonl": (b'{"a": 1}\n[1, 2]\n"x"\n', {"format": "jsonl", "records": 3, "layout": None, "keys": ["a"]}),
    "table.tsv": (
        b'question\tanswer\nhi\thello\n"multi\nline"\tx\nbye\tciao\textra\n',
        {"format": "tsv", "header": ["question", "answer"], "columns": 2, "rows": 3, "ragged_rows": 1},
    ),
    "train.parquet": (
        parquet(),
        {
            "format": "parquet",
            "columns": 3,
            "rows": 10,
            "row_groups": 3,
            "schema": [
                {"name": "id", "type": "int64"},
                {"name": "text", "type": "string"},
                {"name": "score", "type": "float"},
            ],
        },
    ),
    "cache.arrow": (arrow_file(), {"format": "arrow", "columns": 3, "record_batches": 3, "rows": 15}),
    "frame.feather": (arrow_file(1, 7), {"format": "arrow", "record_batches": 1, "rows": 7}),
    "cat.png": (PNG, {"format": "png", "width": 32, "height": 24, "mode": "RGB"}),
    "dog.jpg": (JPEG, {"format": "jpeg", "width": 64, "height": 48, "mode": "RGB"}),
    "bird.jpeg": (image("JPEG", (16, 16), "L"), {"format": "jpeg", "width": 16, "height": 16, "mode": "L"}),
    "fish.webp": (image("WEBP", (20, 10)), {"format": "webp", "width": 20, "height": 10}),
}

_PARQUET = parquet()
# name -> (content that passes the upload's sniffing, words the failure must contain)
ML_MALFORMED = {
    "broken.jsonl": (b'{"a": 1}\n{"a": 2}\n{"a": \n', "line 3"),
    "broken.ndjson": (
        b'{"a": 1}\n' * 500 + b'"\xff\xfe"\n',
        "line 501, column 1: str is not valid UTF-8",
    ),  # past the sniff window
    "broken.tsv": (b'a\tb\n"never closed\t1\n', "invalid TSV"),
    "broken.parquet": (b"PAR1" + b"\x00" * 100 + struct.pack("<i", 50) + b"PAR1", "invalid Parquet"),
    "huge-footer.parquet": (_PARQUET[:-8] + struct.pack("<i", 2**31 - 1) + b"PAR1", "footer length"),
    "broken.arrow": (b"ARROW1\x00\x00" + b"\x01" * 64 + struct.pack("<i", 32) + b"ARROW1", "invalid Arrow IPC"),
    "truncated.png": (PNG[: len(PNG) // 2], "unreadable PNG image"),
    "truncated.jpg": (JPEG[: len(JPEG) // 2], "unreadable JPEG image"),
    "bomb.png": (png_bomb(), "decompression bomb"),
    "broken.webp": (b"RIFF\x20\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "unreadable WEBP image"),
}
