"""End-to-end fixtures: the real ``depot`` command and a real browser against a real API process."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.browser import launch
from tests.fakes.hf_hub import FakeHub
from tests.support import ApiServer, start_api


def client_env(base_env: dict[str, str], home: Path, url: str | None) -> dict[str, str]:
    """A client's environment: no server settings, its own config/state dirs, wide tables."""
    env = {k: v for k, v in base_env.items() if not k.startswith("DEPOT_")}
    env.update({"XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state"),
                "COLUMNS": "240", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    if url:
        env["DEPOT_URL"] = url
    return env


@pytest.fixture
def depot(api: ApiServer, base_env: dict[str, str], tmp_path: Path, clean) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m service ARGS`` (the ``depot`` console script) against the test API."""
    env = client_env(base_env, tmp_path / "home", api.url)

    def run(*args: str, timeout: float = 120, **overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "service", *args], env={**env, **overrides},
                              capture_output=True, text=True, timeout=timeout, check=False, cwd=tmp_path)

    run.env = env  # type: ignore[attr-defined]
    return run


@pytest.fixture(scope="session")
def fake_hub() -> Iterator[FakeHub]:
    with FakeHub() as hub:
        yield hub


@pytest.fixture(scope="session")
def ui_api(base_env: dict[str, str], fake_hub: FakeHub, tmp_path_factory) -> Iterator[ApiServer]:
    """An API whose Hugging Face upstream is the fake hub; the browser tests use only this one."""
    env = {**base_env, "DEPOT_HF_ENDPOINT": fake_hub.url, "DEPOT_MODEL_RETRY_DELAY": "0.2"}
    server = start_api(env, tmp_path_factory.mktemp("ui-api"), ready_path="/health/ready")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    is open, which would break ``asyncio.run`` in the test modules that follow."""
    with launch() as chromium:
        yield chromium


@pytest.fixture
def ui(ui_api: ApiServer, browser: Browser, clean) -> Iterator[Page]:
    """A fresh browser context (empty session storage) on a clean stack, at the UI's address."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                  base_url=ui_api.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture
def http(ui_api: ApiServer, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_api.url, timeout=60) as client:
        yield client
