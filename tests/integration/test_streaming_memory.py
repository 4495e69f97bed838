"""A 2 GiB upload and download through a real server in bounded memory, with no temp file."""

import hashlib
import os
import threading

import httpx
import pytest

from tests.support import HEADS, MIB, multipart_stream, pattern_chunks, start_api

GIB = 1024 * MIB
RSS_LIMIT = 150 * MIB


def rss_bytes(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.mark.slow
def test_two_gib_round_trip_in_bounded_memory(base_env, tmp_path, clean):
    server = start_api(base_env, tmp_path, max_upload_size=str(3 * GIB))
    pid = server.process.pid
    seen_tmp: list[str] = []
    samples: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            samples.append(rss_bytes(pid, "VmRSS"))
            seen_tmp.extend(os.listdir(server.tmpdir))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with httpx.Client(base_url=server.url, timeout=600) as http:
            content_type, body = multipart_stream({"purpose": "training"}, "big.tar",
                                                         pattern_chunks(2 * GIB, head=HEADS["tar"]))
            response = http.post("/api/v1/data/upload", content=body, headers={"content-type": content_type})
            assert response.status_code == 201, response.text
            file = response.json()["file"]
            upload_peak = rss_bytes(pid, "VmHWM")

            expected = hashlib.sha256()
            for chunk in pattern_chunks(2 * GIB, head=HEADS["tar"]):
                expected.update(chunk)
            assert file["size"] == 2 * GIB and file["hash"] == expected.hexdigest()

            got = hashlib.sha256()
            with http.stream("GET", f"/api/v1/data/files/{file['path']}") as download:
                assert download.headers["content-length"] == str(2 * GIB)
                for chunk in download.iter_bytes(MIB):
                    got.update(chunk)
            assert got.hexdigest() == file["hash"]
            peak = rss_bytes(pid, "VmHWM")
    finally:
        done.set()
        watcher.join()
        server.stop()
    print(f"\npeak RSS: after 2 GiB upload {upload_peak / MIB:.1f} MiB, after download {peak / MIB:.1f} MiB, "
          f"samples max {max(samples) / MIB:.1f} MiB")
    assert upload_peak < RSS_LIMIT and peak < RSS_LIMIT
    assert seen_tmp == [], "the upload must not be spooled to a temp file"
