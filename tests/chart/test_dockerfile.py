"""The container image recipe (no Docker engine here, so it is read, not built) agrees with the chart."""

import re
import tomllib

from tests.chart.render import ROOT, container, find, render

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages() -> dict[str, str]:
    """Stage name -> its instructions."""
    parts = re.split(r"^FROM\s+", DOCKERFILE, flags=re.M)[1:]
    return {re.search(r"\bAS\s+(\S+)", p.splitlines()[0]).group(1): p for p in parts}


def test_multi_stage_slim_without_build_tools_at_runtime() -> None:
    found = stages()
    assert list(found) == ["build", "runtime"]
    for body in found.values():
        assert body.splitlines()[0].startswith("python:${PYTHON_VERSION}-slim")
    assert "build-essential" in found["build"]
    assert "build-essential" not in found["runtime"] and "apt-get install" not in found["runtime"]
    assert "COPY --from=build /opt/depot /opt/depot" in found["runtime"]


def test_runs_as_the_charts_non_root_user() -> None:
    runtime = stages()["runtime"]
    uid = int(re.search(r"ARG UID=(\d+)", runtime).group(1))
    assert re.search(r"^USER \$\{UID\}:\$\{UID\}$", runtime, flags=re.M)
    pod = find(render("default"), "Deployment", "depot-api")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid != 0


def test_entry_point_is_depot_and_serves_by_default() -> None:
    runtime = stages()["runtime"]
    assert 'ENTRYPOINT ["depot"]' in runtime and 'CMD ["serve"]' in runtime
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["depot"] == "service.cli:app"
    # The chart picks the command by args only, so one image serves both.
    docs = render("default")
    assert container(find(docs, "Deployment", "depot-api"))["args"] == ["serve"]
    assert container(find(docs, "Deployment", "depot-worker"))["args"] == ["worker"]
    assert "command" not in container(find(docs, "Deployment", "depot-api"))


def test_read_only_root_filesystem_is_prepared_for() -> None:
    runtime = stages()["runtime"]
    for env in ("HOME=/tmp", "PYTHONDONTWRITEBYTECODE=1", "DEPOT_HOST=0.0.0.0"):
        assert env in runtime
    assert "compileall" in stages()["build"]  # bytecode made at build time, never at run time


def test_dockerignore_keeps_the_context_small() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert set(rules[1:3]) == {"!pyproject.toml", "!service/"}
