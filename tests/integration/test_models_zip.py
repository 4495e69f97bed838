"""ZIP imports: streamed into S3, vetted from the central directory before the answer, unpacked by
the worker. Every attack is a 400 with nothing left behind."""

import io
import os
import stat
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.hf_hub import safetensors_weights
from tests.integration.model_fixtures import created, follow, model_keys, stored
from tests.support import ApiServer, start_api

MIB = 1024 * 1024
WEIGHTS = safetensors_weights(9 * MIB).read()  # incompressible: a multipart write and many ranged reads


def model(prefix: str = "", weights: bytes = safetensors_weights(256).read()) -> dict[str, bytes]:
    return {f"{prefix}config.json": b'{"model_type": "bert"}', f"{prefix}model.safetensors": weights,
            f"{prefix}tokenizer.json": b'{"version": "1.0"}'}


def make_zip(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", compression=method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return raw.getvalue()


def upload(client, data: bytes, filename: str = "models.zip", **params: str):
    return client.post("/v1/upload/local", params=params, files={"file": (filename, data, "application/zip")})


def nothing_stored(s3, settings, redis_client) -> None:
    assert model_keys(s3, settings.bucket("models"), "") == []
    assert s3.list_multipart_uploads(Bucket=settings.bucket("models")).get("Uploads", []) == []
    assert redis_client.keys("*models:claim:*") == []


def test_each_top_level_folder_is_a_model(mclient, model_env, s3, settings):
    files = {**model("bert/", WEIGHTS), **model("gpt/"), "gpt/sub/extra.txt": b"x",
             "docs/README.md": b"not a model", "__MACOSX/bert/._config.json": b"junk"}
    location = created(upload(mclient, make_zip(files)))
    task = mclient.get(location).json()
    assert task["source"] == "LOCAL" and task["task_status"] == "PENDING"
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "DONE", task
    assert task["model_ids"] == ["local/bert@main", "local/gpt@main"]
    bucket = settings.bucket("models")
    for name in ("bert", "gpt"):
        mine = {k: v for k, v in files.items() if k.startswith(name + "/")}
        assert model_keys(s3, bucket, f"local/{name}@main/") == sorted(f"local/{k.replace('/', '@main/', 1)}"
                                                                      for k in mine)
        for key, value in mine.items():
            assert stored(s3, bucket, "local/" + key.replace("/", "@main/", 1)) == value
    assert model_keys(s3, bucket, "_uploads/") == []  # the staged archive is gone
    assert mclient.get("/v1/models", params={"source": "LOCAL"}).json()["total"] == 2


def test_model_name_names_only_the_files_at_the_root(mclient, model_env, s3, settings):
    """The contract: each folder is a model named after it; ``model_name`` names root-level files."""
    for name, files, expected in [("flat", model(), ["flat"]), ("ignored", model("some-folder/"), ["some-folder"]),
                                  ("both", {**model(), **model("a/"), **model("b/")}, ["a", "b", "both"])]:
        location = created(upload(mclient, make_zip(files), model_name=name))
        task = follow(mclient, location, model_env)
        assert task["task_status"] == "DONE" and task["model_ids"] == [f"local/{m}@main" for m in expected], task
        for m in expected:
            manifest = mclient.get(f"/v1/models/local/{m}@main").json()
            assert sorted(f["path"] for f in manifest["files"]) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert upload(mclient, make_zip(model()), model_name="../x").status_code == 400
    clash = upload(mclient, make_zip({**model(), **model("same/")}), model_name="same")
    assert clash.status_code == 400 and "would both be model 'same'" in clash.json()["error"]


def test_empty_archives_say_so(mclient, s3, settings):
    only_folders = io.BytesIO()
    with zipfile.ZipFile(only_folders, "w") as archive:
        archive.writestr(zipfile.ZipInfo("empty/"), b"")
        archive.writestr(zipfile.ZipInfo("empty/inner/"), b"")
    for data in (make_zip({}), only_folders.getvalue()):
        answer = upload(mclient, data)
        assert answer.status_code == 400 and answer.json()["error"].startswith("the ZIP archive is empty"), answer.text
    assert model_keys(s3, settings.bucket("models"), "") == []


def test_409_when_any_model_exists_and_201_for_another_revision(mclient, model_env, s3, settings, redis_client):
    assert follow(mclient, created(upload(mclient, make_zip(model("gpt/")))), model_env)["task_status"] == "DONE"
    clash = upload(mclient, make_zip({**model("gpt/"), **model("fresh/")}))
    assert clash.status_code == 409 and "local/gpt@main" in clash.json()["error"]
    assert model_keys(s3, settings.bucket("models"), "local/fresh") == []
    assert model_keys(s3, settings.bucket("models"), "_uploads/") == []
    assert redis_client.keys("*models:claim:local/fresh*") == []
    created(upload(mclient, make_zip(model("gpt/")), revision="v2"))


def test_404_when_no_valid_model_inside(mclient, s3, settings, redis_client):
    answer = upload(mclient, make_zip({"notes/README.md": b"hi", "config.json": b"{}"}))
    assert answer.status_code == 404 and "no valid model" in answer.json()["error"]
    nothing_stored(s3, settings, redis_client)


def symlink_zip() -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        for name, data in model("m/").items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("m/vocab.txt")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return raw.getvalue()


def encrypted_zip() -> bytes:
    """Set the 'encrypted' flag on every entry, in local headers and central directory."""
    data = bytearray(make_zip(model("m/")))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at >= 0:
            data[at + flag_at] |= 0x01
            at = data.find(signature, at + 4)
    return bytes(data)


def many_entries() -> bytes:
    return make_zip({**model("m/"), **{f"m/shard_{i}.txt": b"" for i in range(60)}})


def attacks() -> Iterator[tuple[str, bytes, str]]:
    yield "dot-dot", make_zip({**model("m/"), "m/../../evil.txt": b"x"}), "unsafe path"
    yield "leading dot-dot", make_zip({**model("m/"), "../evil/config.json": b"x"}), "unsafe path"
    yield "absolute", make_zip({**model("m/"), "/etc/cron.d/evil": b"x"}), "absolute path"
    yield "drive", make_zip({**model("m/"), "C:/Windows/evil.dll": b"x"}), "absolute path"
    yield "backslash", make_zip({**model("m/"), "m\\..\\..\\evil": b"x"}), "unsafe path"
    yield "symlink", symlink_zip(), "symbolic link"
    yield "encrypted", encrypted_zip(), "encrypted"
    yield "ratio bomb", make_zip({**model("m/"), "m/zeros.bin": bytes(4 * MIB)}), "zip bomb"
    yield "too large", make_zip(model("m/", os.urandom(3 * MIB)), zipfile.ZIP_STORED), "unpacks to"
    yield "too many entries", many_entries(), "entries"
    yield "not a zip", b"PK but not really" * 100, "not a ZIP"
    yield "empty", b"", "empty"


@pytest.fixture(scope="module")
def strict_api(model_env, tmp_path_factory) -> Iterator[ApiServer]:
    """An API with small ZIP limits, so every limit can be crossed with small archives."""
    server = start_api(model_env, tmp_path_factory.mktemp("strict-api"), ready_path="/health/ready",
                       model_zip_max_unpacked=str(2 * MIB), model_zip_max_ratio="50",
                       model_zip_max_entries="50", model_zip_max_bytes=str(5 * MIB))
    yield server
    server.stop()


@pytest.mark.parametrize("name,archive,message", list(attacks()), ids=[a[0] for a in attacks()])
def test_zip_attacks_are_400_and_nothing_is_stored(strict_api, clean, name, archive, message, s3, settings,
                                                   redis_client):
    with httpx.Client(base_url=strict_api.url, timeout=60) as client:
        answer = upload(client, archive)
    assert answer.status_code == 400, (name, answer.text)
    assert answer.json()["success"] is False and message in answer.json()["error"], answer.json()
    nothing_stored(s3, settings, redis_client)


def test_archive_over_the_size_limit_is_413(strict_api, clean, s3, settings, redis_client):
    with httpx.Client(base_url=strict_api.url, timeout=60) as client:
        answer = upload(client, make_zip(model("m/", os.urandom(6 * MIB)), zipfile.ZIP_STORED))
    assert answer.status_code == 413 and answer.json()["success"] is False
    nothing_stored(s3, settings, redis_client)


def test_corrupt_entry_fails_in_the_worker(mclient, model_env, s3, settings):
    data = bytearray(make_zip(model("m/", WEIGHTS[: 2 * MIB]), zipfile.ZIP_STORED))
    at = data.find(WEIGHTS[:64])
    data[at + MIB] ^= 0xFF  # the directory still vouches for the old CRC
    location = created(upload(mclient, bytes(data)))
    task = follow(mclient, location, model_env)
    assert task["task_status"] == "FAILED" and "corrupt" in task["error_msg"]
    assert model_keys(s3, settings.bucket("models"), "") == [f"_tasks/{task['id']}.json"]
