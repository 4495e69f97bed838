"""Fixtures of the chart tests: the helm binary (PATH or .tools/bin/helm); failing, never skipping."""

import pytest

from tests.chart.render import find_helm


@pytest.fixture(scope="session")
def helm() -> str:
    found = find_helm()
    if not found:  # fail, never skip: `make test` installs helm first
        pytest.fail("helm not found on PATH or in .tools/bin: run `make .tools/bin/helm`")
    return found


@pytest.fixture(autouse=True)
def _needs_helm(helm: str) -> None:
    """Every chart test renders with helm: without it each fails with the message above."""
