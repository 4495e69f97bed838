"""The container image recipe agrees with the chart (read here; tests/image builds and runs it)."""

import re
import subprocess
import tomllib

import yaml

from tests.chart.render import ROOT, container, find, render

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages() -> dict[str, str]:
    """Stage name -> its instructions."""
    parts = re.split(r"^FROM\s+", DOCKERFILE, flags=re.M)[1:]
    return {re.search(r"\bAS\s+(\S+)", p.splitlines()[0]).group(1): p for p in parts}


def test_multi_stage_on_an_overridable_base_without_build_tools() -> None:
    found = stages()
    assert list(found) == ["build", "runtime"]
    assert re.search(r"^ARG BASE=docker\.io/library/python:3\.11-slim$", DOCKERFILE, flags=re.M)
    for body in found.values():
        assert body.splitlines()[0].startswith("${BASE} AS")
    # Wheels only: no compiler is installed, in either stage.
    assert "--only-binary=:all:" in found["build"]
    assert "apt-get" not in DOCKERFILE and "build-essential" not in DOCKERFILE
    assert "COPY --from=build /opt/depot /opt/depot" in found["runtime"]
    # No RUN at runtime: build-time mounts (pip.conf, CA bundle, pip cache) leave no mount point behind.
    assert not re.search(r"^RUN ", found["runtime"], flags=re.M)


def test_project_is_built_once_from_a_fresh_tree() -> None:
    """Regression: building a placeholder package first left a build/ that shadowed the real code."""
    build = stages()["build"]
    assert build.count("pip wheel") == 1 and "touch service/__init__.py" not in build
    assert build.index("COPY service") < build.index("pip wheel")
    assert "service.__version__" in build  # the build itself fails on a stale package


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


def test_dockerignore_keeps_the_context_small_and_free_of_build_leftovers() -> None:
    rules = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert set(rules[1:3]) == {"!pyproject.toml", "!service/"}
    assert {"**/build", "**/*.egg-info", "**/.venv", "**/.depot", "**/.tools"} <= set(rules)


def test_chart_default_image_is_what_make_image_builds() -> None:
    built = subprocess.run(
        ["make", "-s", "--no-print-directory", "image-ref"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    chart = yaml.safe_load((ROOT / "charts/depot/Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "charts/depot/values.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert values["image"]["tag"] == "" and chart["appVersion"] == version
    assert built == f"{values['image']['repository']}:{chart['appVersion']}"
    pod = find(render("default"), "Deployment", "depot-api")
    assert container(pod)["image"].endswith(f"/{built}") or container(pod)["image"] == built
