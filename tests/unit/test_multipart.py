import pytest

from service.api.multipart import PartData, PartEnd, PartStart, multipart_events
from service.errors import InvalidInput

BOUNDARY = "xYzZY"
CT = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[str, str | None, bytes], close: bool = True) -> bytes:
    out = b""
    for name, filename, data in parts:
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disp}\r\n\r\n".encode() + data + b"\r\n"
    return out + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


async def collect(raw: bytes, chunk: int, content_type: str = CT, **kw):
    async def chunks():
        for i in range(0, len(raw), chunk):
            yield raw[i : i + chunk]

    events = [e async for e in multipart_events(chunks(), content_type, **kw)]
    fields, files, current = {}, {}, None
    for e in events:
        if isinstance(e, PartStart):
            current = e
            (files if e.filename is not None else fields)[e.name] = b""
        elif isinstance(e, PartData):
            target = files if current.filename is not None else fields
            target[current.name] += e.data
        else:
            assert isinstance(e, PartEnd)
    return fields, files


@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
def test_parses_fields_after_file_whatever_the_chunking(chunk, run):
    payload = bytes(range(256)) * 50 + f"\r\n--{BOUNDARY}X".encode()  # boundary-like bytes inside
    raw = body(("file", "a.bin", payload), ("purpose", None, b"training"))
    fields, files = run(collect(raw, chunk))
    assert files == {"file": payload}
    assert fields == {"purpose": b"training"}


def test_truncated_body_is_400(run):
    raw = body(("file", "a.txt", b"hello"), close=False)
    with pytest.raises(InvalidInput, match="closing boundary"):
        run(collect(raw, 4))


@pytest.mark.parametrize("ct", [None, "application/json", "multipart/form-data", "multipart/form-data; boundary="])
def test_missing_boundary_or_wrong_type_is_400(ct, run):
    with pytest.raises(InvalidInput):
        run(collect(body(("a", None, b"1")), 10, content_type=ct))


def test_too_many_parts_is_400(run):
    raw = body(*[(f"f{i}", None, b"x") for i in range(20)])
    with pytest.raises(InvalidInput, match="more than 10 parts"):
        run(collect(raw, 100, max_parts=10))


def test_garbage_is_400(run):
    with pytest.raises(InvalidInput):
        run(collect(b"--" + BOUNDARY.encode() + b"\r\nno-colon-header\r\n\r\nx", 5))
