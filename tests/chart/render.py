"""Render the Helm chart with the real helm binary (installed by `make test` via mk/helm.mk)."""

import functools
import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "depot"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
VARIANTS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]
RELEASE = "depot"
NAMESPACE = "depot-ns"


def find_helm() -> str | None:
    """helm on PATH first, else the copy mk/helm.mk unpacks into .tools/bin."""
    local = ROOT / ".tools" / "bin" / "helm"
    return shutil.which("helm") or (str(local) if os.access(local, os.X_OK) else None)


def run_helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm; the result carries stdout/stderr and the return code for assertions."""
    binary = find_helm()
    assert binary, "helm is missing"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=120, check=False)


@functools.lru_cache(maxsize=64)
def _render(values: tuple[str, ...], sets: tuple[str, ...]) -> tuple[dict, ...]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["-f", path]
    for item in sets:
        args += ["--set", item]
    result = run_helm(*args)
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(variant: str | None = None, *sets: str) -> list[dict]:
    """Every manifest of `helm template` for a ci/<variant>-values.yaml plus --set overrides."""
    values = (str(CHART / "ci" / f"{variant}-values.yaml"),) if variant else ()
    return list(_render(values, tuple(sets)))


def find(docs: list[dict], kind: str, name: str) -> dict:
    """The one manifest of that kind and name (fails loudly when missing)."""
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found in {[(d['kind'], d['metadata']['name']) for d in docs]}"
    return matches[0]


def kinds(docs: list[dict]) -> set[str]:
    return {d["kind"] for d in docs}


def container(doc: dict) -> dict:
    """The single container of a workload's pod template."""
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]
