"""The built image (`make image`) run with podman: `serve` and `worker` on the host network against
the session's SeaweedFS, Redis and fake Hub on loopback. Never skipped: without podman or the image,
every test here fails and says why. Run by `make test-image` (`make test` leaves this folder out)."""

import os
import shlex
import shutil
import subprocess
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.devstack import free_port

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PODMAN = shlex.split(os.environ.get("DEPOT_PODMAN", "podman --runtime runc"))
IMAGE = os.environ.get("DEPOT_IMAGE", f"depot:{VERSION}")
# No CAP_SYS_RESOURCE here: the container's limits must be set, not inherited.
LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    assert not check or done.returncode == 0, (
        f"podman {shlex.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}"
    )
    return done


def run_once(
    image: str, *args: str, network: str = "none", user: str | None = None, entrypoint: str | None = None
) -> subprocess.CompletedProcess:
    """A throw-away container: read-only root, no network unless asked (host or none only)."""
    assert network in ("none", "host")
    flags = ["--rm", "--read-only", "--network", network, *LIMITS]
    flags += ["--user", user] if user else []
    flags += ["--entrypoint", entrypoint] if entrypoint else []
    return podman("run", *flags, image, *args, check=False)


@dataclass
class Container:
    """A detached container of the image; ``url`` is its API when it serves one."""

    name: str
    url: str = ""

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr

    def exec(self, *args: str) -> subprocess.CompletedProcess:
        return podman("exec", self.name, *args, check=False)

    def stop(self) -> None:
        podman("rm", "--force", "--time", "20", self.name, check=False)


def start(image: str, env: dict[str, str], *args: str) -> Container:
    """``depot <args>`` in the background on the host network, as the image's user, read-only root."""
    name = f"depot-test-{args[0]}-{uuid.uuid4().hex[:8]}"
    flags = [f"--env={key}={value}" for key, value in env.items() if key.startswith("DEPOT_")]
    podman("run", "--detach", "--name", name, "--network", "host", "--read-only", *LIMITS, *flags, image, *args)
    return Container(name)


@pytest.fixture(scope="session")
def image() -> str:
    if shutil.which(PODMAN[0]) is None:
        pytest.fail(f"{PODMAN[0]} is not installed: `make test-image` installs it and builds the image")
    found = podman("image", "exists", IMAGE, check=False)
    if found.returncode != 0:
        pytest.fail(f"no image {IMAGE} (or podman cannot run): build it with `make image`\n{found.stderr}")
    return IMAGE


@pytest.fixture(scope="session")
def image_api(image: str, model_env: dict[str, str]) -> Iterator[Container]:
    """``depot serve`` from the image, pointed at the session's servers and the fake upstreams."""
    port = free_port()
    container = start(image, {**model_env, "DEPOT_HOST": "127.0.0.1", "DEPOT_PORT": str(port)}, "serve")
    container.url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(container.url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the image's API never got ready:\n" + container.logs()
            time.sleep(0.2)
        yield container
    finally:
        container.stop()


@pytest.fixture(scope="session")
def api(image_api: Container) -> Container:
    """The suites' ``api`` (so ``client`` and the contract examples) is the container."""
    return image_api


@pytest.fixture(scope="session")
def model_api(image_api: Container) -> Container:
    return image_api


def pytest_terminal_summary(terminalreporter) -> None:
    if shutil.which(PODMAN[0]) is None:
        return
    size = podman("image", "inspect", "--format", "{{.Size}}", IMAGE, check=False).stdout.strip()
    if size.isdigit():
        terminalreporter.write_line(f"image {IMAGE}: {int(size) / 1e6:.0f} MB ({size} bytes)")
