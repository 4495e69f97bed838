"""End-to-end fixtures: the real ``depot`` command and a real browser against a real API process."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import ApiServer


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
