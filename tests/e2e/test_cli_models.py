"""``depot import``, ``depot tasks`` and ``depot models`` against a real API, worker and fake hub."""

import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import client_env
from tests.fakes.hf_hub import FakeHub, pickle_weights, safetensors_weights
from tests.support import ApiServer


@pytest.fixture
def cli(ui_api: ApiServer, base_env, tmp_path: Path, clean):
    env = client_env(base_env, tmp_path / "home", ui_api.url)

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "service", *args], env=env, capture_output=True,
                              text=True, timeout=timeout, check=False, cwd=tmp_path)

    return run


@pytest.fixture
def worker(ui_api: ApiServer) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen([sys.executable, "-m", "service", "worker"], env=ui_api.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield process
    process.terminate()
    process.wait(30)


def test_import_hf_waits_until_done_then_tasks_and_models_show_it(cli, worker, fake_hub: FakeHub):
    fake_hub.add_model("acme/cli-bert", {"config.json": b'{"model_type": "bert"}',
                                         "model.safetensors": safetensors_weights(2 * 1024 * 1024, seed=9)})
    done = cli("import", "hf", "acme/cli-bert", "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    task = json.loads(done.stdout)
    assert task["task_status"] == "DONE" and task["source"] == "HUGGINGFACE"
    assert task["model_tag"] == "acme/cli-bert@main"

    tasks = cli("tasks", "--json")
    assert tasks.returncode == 0, tasks.stderr
    assert [t["id"] for t in json.loads(tasks.stdout)] == [task["id"]]  # remembered by this client
    one = cli("tasks", task["id"])
    assert "DONE" in one.stdout and "acme/cli-bert@main" in one.stdout

    models = json.loads(cli("models", "--json").stdout)
    assert [m["id"] for m in models["models"]] == ["huggingface/acme/cli-bert@main"]
    table = cli("models", "huggingface/acme/cli-bert@main")
    assert "model.safetensors" in table.stdout and "2.0 MiB" in table.stdout


def test_import_errors_a_failed_task_and_a_zip(cli, worker, fake_hub: FakeHub, tmp_path: Path):
    missing = cli("import", "hf", "acme/does-not-exist")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: 404") and len(missing.stderr.strip().splitlines()) == 1
    bad_repo = cli("import", "github", "no-slash-here")
    assert bad_repo.returncode == 1 and "expected OWNER/REPO" in bad_repo.stderr

    fake_hub.add_model("acme/broken", {"config.json": b"{}", "model.safetensors": b"weights"})
    fake_hub.fail("acme/broken/resolve/", status=404, times=50)  # vanishes between the check and the download
    failed = cli("import", "hf", "acme/broken", "--wait")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAILED" in failed.stdout and "error:" in failed.stdout

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny/config.json", b"{}")
        archive.writestr("tiny/pytorch_model.bin", pickle_weights(1024).read())
        archive.writestr("tiny/tokenizer.json", b"{}")
    (tmp_path / "models.zip").write_bytes(buffer.getvalue())
    done = cli("import", "zip", str(tmp_path / "models.zip"), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DONE" in done.stdout
    again = cli("import", "zip", str(tmp_path / "models.zip"))
    assert again.returncode == 1 and again.stderr.startswith("error: 409")


def test_import_dataset_waits_and_reports_the_files(cli, worker, fake_hub: FakeHub):
    from tests.fakes.hf_hub import demo_datasets

    fake_hub.add_dataset("depot/chat-sft", demo_datasets()["depot/chat-sft"])
    done = cli("import", "dataset", "depot/chat-sft", "--purpose", "training", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DONE" in done.stdout and "files stored: 2, skipped: 1, failed: 0" in done.stdout
    assert "skipped prepare.py" in done.stdout
    listing = json.loads(cli("ls", "--purpose", "training", "--json").stdout)
    files = listing["files"] if isinstance(listing, dict) else listing
    assert sorted(f["original_filename"] for f in files) == ["train.jsonl", "valid.jsonl"]
    again = cli("import", "dataset", "depot/chat-sft", "--purpose", "training")
    assert again.returncode == 1 and "409" in again.stderr
    missing = cli("import", "dataset", "depot/nope", "--purpose", "training")
    assert missing.returncode == 1 and "404" in missing.stderr
