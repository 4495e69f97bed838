"""The README's Helm section and NOTES.txt name things the chart really renders."""

import re
import subprocess

from tests.chart.render import CHART, ROOT, render, run_helm

DOC = (ROOT / "README.md").read_text().split("## Kubernetes (Helm)", 1)[1].split("\n## ", 1)[0]


def test_the_documented_install_renders_what_the_doc_names() -> None:
    command = re.search(r"^helm install depot charts/depot (.*)$", DOC, flags=re.M)
    assert command, "one `helm install` command"
    sets = re.findall(r"--set (\S+)", command.group(1))
    docs = render(None, *[s.replace("$REGISTRY", "registry.local") for s in sets])
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    named = re.findall(r"kubectl -n depot (?:port-forward|get) (svc|secret)[/ ]([a-z0-9-]+)", DOC)
    assert len(named) >= 3
    for kind, name in named:
        assert ({"svc": "Service", "secret": "Secret"}[kind], name) in names
    for bucket in ("depot-training", "depot-ingestion", "depot-models"):
        assert bucket in DOC


def test_notes_tell_how_to_reach_api_console_and_upload() -> None:
    result = run_helm("install", "depot", str(CHART), "--dry-run=client", "--namespace", "depot")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "port-forward svc/depot 8080:80" in notes
    assert "port-forward svc/depot-minio-console 9001:9001" in notes
    assert "/api/v1/data/upload" in notes
    assert "depot-training" in notes and "sha256" in notes


def test_the_documented_build_and_push_is_what_the_chart_pulls() -> None:
    """`make image` builds the name the doc pushes, and the doc's install pulls what was pushed."""
    built = subprocess.run(
        ["make", "-s", "--no-print-directory", "image-ref"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert re.search(r"^make image\b", DOC, flags=re.M)
    push = re.search(r"^podman push (\S+) (\S+)$", DOC, flags=re.M)
    assert push and push.group(1) == built
    pushed = push.group(2).replace("$REGISTRY", "registry.local")
    sets = re.findall(r"--set (\S+)", re.search(r"^helm install depot charts/depot (.*)$", DOC, flags=re.M).group(1))
    docs = render(None, *[s.replace("$REGISTRY", "registry.local") for s in sets])
    api = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "depot-api")
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == pushed
