"""Fixtures and helpers of the model-import tests: fake upstreams, an API that points at them,
and a way to run the real worker and follow a task's ``Location`` to its end."""

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.github import FakeGitHub
from tests.fakes.hf_hub import FakeHub
from tests.support import ApiServer, run_worker_burst, start_api

HF_TOKEN = "hf_fake_token"


@pytest.fixture(scope="session")
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub(page_size=3) as hub:  # small pages: the tree listing must follow Link headers
        yield hub


@pytest.fixture(scope="session")
def fake_github() -> Iterator[FakeGitHub]:
    with FakeGitHub() as github:
        yield github


@pytest.fixture
def hub(fake_hub: FakeHub) -> FakeHub:
    fake_hub.repos.clear()
    fake_hub.datasets.clear()
    fake_hub.faults.clear()
    fake_hub.downloads.clear()
    fake_hub.rate = None
    fake_hub.auth.clear()
    return fake_hub


@pytest.fixture
def github(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.reset()
    return fake_github


@pytest.fixture(scope="session")
def model_env(base_env: dict[str, str], fake_hub: FakeHub, fake_github: FakeGitHub) -> dict[str, str]:
    """The API's and the worker's environment: upstreams are the fakes, retries are quick."""
    return {**base_env, "DEPOT_HF_ENDPOINT": fake_hub.url, "DEPOT_HF_TOKEN": HF_TOKEN,
            "DEPOT_GITHUB_API_URL": fake_github.url,
            "DEPOT_GITHUB_TOKEN": fake_github.token, "DEPOT_MODEL_RETRY_DELAY": "0.2"}


@pytest.fixture(scope="session")
def model_api(model_env: dict[str, str], tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(model_env, tmp_path_factory.mktemp("model-api"), ready_path="/health/ready")
    yield server
    server.stop()


@pytest.fixture
def mclient(model_api: ApiServer, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=model_api.url, timeout=60) as http:
        yield http


def run_worker(env: dict[str, str], timeout: float = 180) -> str:
    """One burst of the real worker; returns its log for assertions and failure messages."""
    done = run_worker_burst(env, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def created(response: httpx.Response) -> str:
    """Assert the contract's answer to an import (201, empty body, Location) and return it."""
    assert response.status_code == 201, response.text
    assert response.content == b""
    location = response.headers["location"]
    assert location.startswith("/v1/upload/tasks/")
    return location


def follow(client: httpx.Client, location: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> dict:
    """Run the worker (if ``env``), then poll ``Location`` until the task is DONE or FAILED."""
    log = run_worker(env) if env is not None else ""
    deadline = time.monotonic() + timeout
    while True:
        task = client.get(location)
        assert task.status_code == 200, task.text
        body = task.json()
        if body["task_status"] in ("DONE", "FAILED"):
            return body
        assert time.monotonic() < deadline, f"task stuck: {body}\n{log}"
        time.sleep(0.2)


def stored(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def model_keys(s3, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                  for o in page.get("Contents", []))
