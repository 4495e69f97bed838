"""helm lint --strict, values.schema.json, and every rendered manifest against Kubernetes JSON schemas offline.

Built-in kinds: kubernetes-validate's bundled schemas (strict: unknown fields fail), Kubernetes 1.35.
CRDs (ServiceMonitor, HTTPRoute): schemas vendored in tests/chart/schemas, written from the upstream CRDs
for the fields the chart renders, rejecting unknown fields.
"""

import copy
import json
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest

from tests.chart.render import CHART, CI_VALUES, VARIANTS, find, render, run_helm

K8S_VERSION = "1.35"
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-v1.json",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-v1.json",
}
SCHEMA_DIR = Path(__file__).parent / "schemas"


def validate(doc: dict) -> None:
    """Raise if the manifest does not match its schema (built-in kind or vendored CRD)."""
    crd = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
    if crd:
        jsonschema.validate(doc, json.loads((SCHEMA_DIR / crd).read_text()))
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_four_value_sets_are_kept_in_ci() -> None:
    assert set(VARIANTS) >= {"default", "external", "ingress", "gateway"}


@pytest.mark.parametrize("values", CI_VALUES, ids=VARIANTS)
def test_helm_lint_strict(values: Path) -> None:
    result = run_helm("lint", "--strict", str(CHART), "-f", str(values))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_matches_its_schema(variant: str) -> None:
    docs = render(variant)
    assert len(docs) >= 8
    for doc in docs:
        try:
            validate(doc)
        except (jsonschema.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            pytest.fail(f"{variant}: {doc['kind']}/{doc['metadata']['name']}: {getattr(exc, 'message', exc)}")


def test_crd_variants_render_the_crds() -> None:
    """The vendored CRD schemas are really exercised."""
    assert {d["kind"] for d in render("ingress")} >= {"ServiceMonitor", "HorizontalPodAutoscaler", "Ingress"}
    assert "HTTPRoute" in {d["kind"] for d in render("gateway")}


@pytest.mark.parametrize(
    ("kind", "name", "breaks"),
    [
        ("Deployment", "depot-api", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(bogus=1)),
        ("Deployment", "depot-worker", lambda d: d["spec"].update(replicas="two")),
        ("Service", "depot", lambda d: d["spec"]["ports"][0].update(port="eighty")),
    ],
)
def test_validator_rejects_broken_manifests(kind: str, name: str, breaks) -> None:
    """Control: the offline validator does catch errors (so passing above means something)."""
    doc = copy.deepcopy(find(render("default"), kind, name))
    validate(doc)
    breaks(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


@pytest.mark.parametrize(
    ("variant", "kind", "breaks"),
    [
        ("gateway", "HTTPRoute", lambda d: d["spec"].update(hostnames=["Not A Host"])),
        ("gateway", "HTTPRoute", lambda d: d["spec"]["rules"][0].update(unknown=True)),
        ("ingress", "ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(interval="30 seconds")),
        ("ingress", "ServiceMonitor", lambda d: d["spec"].pop("selector")),
    ],
)
def test_crd_schemas_reject_broken_manifests(variant: str, kind: str, breaks) -> None:
    doc = copy.deepcopy(next(d for d in render(variant) if d["kind"] == kind))
    validate(doc)
    breaks(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


@pytest.mark.parametrize(
    "bad",
    [
        "config.maxUploadSize=0",
        "config.bucketPrefix=Bad_Prefix",
        "config.s3.partSize=1024",
        "api.port=70000",
        "worker.jobCompletionWait=-1",
        "service.type=Magic",
        "minio.staleUploadsExpiry=soon",
        "httpRoute.timeout=ten",
        "nonsense=1",
        "api.probes.liveness.enabled=maybe",
    ],
)
def test_values_schema_rejects_bad_values(bad: str) -> None:
    result = run_helm("template", "depot", str(CHART), "--set", bad)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr or "schema" in result.stderr


def test_values_yaml_is_documented_line_by_line() -> None:
    """Every key in values.yaml has a comment right above it, except inside Kubernetes objects that are
    passed through verbatim (documented once at their top)."""
    passthrough = {"podSecurityContext", "securityContext", "hosts"}
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented, stack = [], []  # stack: (indent, key) of the enclosing keys
    for i, line in enumerate(lines):
        text = line.strip()
        if not text or text.startswith("#") or ":" not in text:
            continue
        indent = len(line) - len(line.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = text.removeprefix("- ").split(":", 1)[0]
        inside_passthrough = any(k in passthrough for _, k in stack)
        if not inside_passthrough and not lines[i - 1].strip().startswith("#"):
            undocumented.append(f"line {i + 1}: {text}")
        stack.append((indent, key))
    assert not undocumented, undocumented
    assert len(lines) > 100
