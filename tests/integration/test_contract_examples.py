"""The curl and Python examples of data-upload-api.md, run as written (only the host differs)."""

import json
import subprocess

import requests

from tests.conftest import stored_keys


def curl(*args: str) -> dict:
    out = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_curl_upload_examples(client, api, tmp_path, s3, settings):
    (tmp_path / "training_data.json").write_text('{"q": "hi", "a": "hello"}')
    (tmp_path / "voice_sample.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28))
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    url = f"{api.url}/api/v1/data/upload"
    run = lambda *a: subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", *a], cwd=tmp_path,  # noqa: E731
                                    capture_output=True, text=True, check=True).stdout.rsplit("\n", 1)

    body, code = run("-X", "POST", url, "-F", "file=@training_data.json", "-F", "purpose=training",
                     "-F", "description=Bot training data")
    assert code == "201"
    first = json.loads(body)
    assert first["success"] is True and first["message"] == "File uploaded successfully"
    file = first["file"]
    assert file["original_filename"] == "training_data.json"
    assert file["purpose"] == "training" and file["category"] == "data"
    assert file["path"] == f"training/data/{file['filename']}"
    assert file["filename"].startswith("training_data_") and file["filename"].endswith(".json")

    body, code = run("-X", "POST", url, "-F", "file=@voice_sample.wav", "-F", "purpose=training",
                     "-F", "category=audio", "-F", "description=Echo voice sample")
    assert code == "201" and json.loads(body)["file"]["category"] == "audio"

    body, code = run("-X", "POST", url, "-F", "file=@data.csv", "-F", "purpose=ingestion",
                     "-F", 'metadata={"source":"production","version":"1.0"}')
    assert code == "201"
    csv = json.loads(body)["file"]
    assert csv["metadata"] == {"source": "production", "version": "1.0"}

    listing = curl(f"{api.url}/api/v1/data/files")
    assert listing["total"] == 3 and listing["limit"] == 100 and listing["offset"] == 0
    assert [f["original_filename"] for f in listing["files"]] == ["data.csv", "voice_sample.wav", "training_data.json"]
    assert curl(f"{api.url}/api/v1/data/files?purpose=training")["total"] == 2
    assert curl(f"{api.url}/api/v1/data/files?category=audio")["total"] == 1
    assert curl(f"{api.url}/api/v1/data/files?limit=10&offset=20") == {
        "success": True, "total": 3, "limit": 10, "offset": 20, "files": []}

    meta = curl(f"{api.url}/api/v1/data/files/{file['path']}?metadata=true")["metadata"]
    assert meta["filename"] == "training_data.json" and meta["saved_as"] == file["filename"]
    assert meta["description"] == "Bot training data" and meta["hash"] == file["hash"]

    subprocess.run(["curl", "-sS", f"{api.url}/api/v1/data/files/{file['path']}", "-o", "back.json"],
                   cwd=tmp_path, check=True)
    assert (tmp_path / "back.json").read_bytes() == (tmp_path / "training_data.json").read_bytes()

    stats = curl(f"{api.url}/api/v1/data/stats")["stats"]
    assert stats["total_files"] == 3
    assert stats["by_purpose"]["training"]["by_category"]["audio"]["count"] == 1

    assert curl("-X", "DELETE", f"{api.url}/api/v1/data/files/{file['path']}") == {
        "success": True, "message": "File deleted successfully"}
    assert file["filename"] not in " ".join(stored_keys(s3, settings.bucket("training")))


def test_python_examples(client, api, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "training_data.json").write_text("[1, 2, 3]")
    # "Upload a file" example, verbatim but for the host.
    with open("training_data.json", "rb") as f:
        files = {"file": f}
        data = {"purpose": "training", "description": "Bot training data"}
        response = requests.post(f"{api.url}/api/v1/data/upload", files=files, data=data)
    assert response.status_code == 201
    assert response.json()["file"]["description"] == "Bot training data"

    # "Bulk Upload Script": every supported file succeeds, an unsupported one reports its error.
    folder = tmp_path / "training_data"
    folder.mkdir()
    for name in ("a.txt", "b.md", "c.yaml"):
        (folder / name).write_text("x: 1\n")
    (folder / "evil.exe").write_bytes(b"MZ")
    results = {}
    for filepath in folder.glob("*"):
        with open(filepath, "rb") as f:
            response = requests.post(f"{api.url}/api/v1/data/upload", files={"file": f},
                                     data={"purpose": "training"})
        results[filepath.name] = (response.status_code, response.json().get("error"))
    assert {k: v[0] for k, v in results.items()} == {"a.txt": 201, "b.md": 201, "c.yaml": 201, "evil.exe": 400}
    assert "not allowed" in results["evil.exe"][1]
