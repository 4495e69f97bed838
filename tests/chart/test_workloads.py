"""The api and worker Deployments: probes, security, /tmp, graceful shutdown, labels, rollouts on config changes."""

import re

import pytest
import yaml

from service.settings import Settings
from tests.chart.render import CHART, container, find, render

API, WORKER = "depot-api", "depot-worker"
APP_VERSION = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]


@pytest.mark.parametrize("variant", ["default", "external", "ingress", "gateway"])
@pytest.mark.parametrize("name", [API, WORKER])
def test_pods_are_locked_down(variant: str, name: str) -> None:
    deployment = find(render(variant), "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container(deployment)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The only writable path: a sized emptyDir at /tmp.
    assert {"name": "tmp", "mountPath": "/tmp"} in container(deployment)["volumeMounts"]
    tmp = next(v for v in pod["volumes"] if v["name"] == "tmp")
    assert tmp["emptyDir"]["sizeLimit"] == "1Gi"


def test_api_probes_hit_the_health_endpoints() -> None:
    api = container(find(render("default"), "Deployment", API))
    assert api["args"] == ["serve"]
    assert api["ports"] == [{"name": "http", "containerPort": Settings.model_fields["port"].default, "protocol": "TCP"}]
    assert api["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    # Startup allows a slow start (about a minute) before liveness may kill the pod.
    assert api["startupProbe"]["periodSeconds"] * api["startupProbe"]["failureThreshold"] >= 60


def test_worker_probes_run_the_health_check() -> None:
    worker = container(find(render("default"), "Deployment", WORKER))
    assert worker["args"] == ["worker"]
    assert "ports" not in worker
    for probe in ("startupProbe", "readinessProbe"):
        assert worker[probe]["exec"]["command"] == ["depot", "worker", "--check"]
    # Liveness survives a Redis outage (the worker waits for Redis): only a stopped loop restarts it.
    assert worker["livenessProbe"]["exec"]["command"] == ["depot", "worker", "--check", "--live"]


def test_every_probe_can_be_switched_off() -> None:
    sets = [f"{c}.probes.{p}.enabled=false" for c in ("api", "worker") for p in ("startup", "liveness", "readiness")]
    docs = render(None, *sets)
    for name in (API, WORKER):
        assert not {"startupProbe", "livenessProbe", "readinessProbe"} & set(container(find(docs, "Deployment", name)))
    gateway = container(find(render("gateway"), "Deployment", API))
    assert "startupProbe" not in gateway and "livenessProbe" in gateway


@pytest.mark.parametrize(("variant", "wait"), [("default", 60), ("ingress", 300)])
def test_worker_grace_period_covers_the_job_completion_wait(variant: str, wait: int) -> None:
    docs = render(variant)
    worker = find(docs, "Deployment", WORKER)
    config = find(docs, "ConfigMap", "depot")["data"]
    assert config["DEPOT_WORKER_JOB_COMPLETION_WAIT"] == str(wait)
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == wait + 15  # the wait, plus closing clients and exiting


def test_api_shuts_down_gracefully() -> None:
    pod = find(render("default"), "Deployment", API)["spec"]["template"]["spec"]
    assert pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    # preStop sleep + uvicorn's 30 s drain (service/cli.py) fit in the grace period.
    assert pod["terminationGracePeriodSeconds"] >= 5 + 30


def test_image_tag_defaults_to_app_version() -> None:
    for name in (API, WORKER):
        assert container(find(render("default"), "Deployment", name))["image"] == f"depot:{APP_VERSION}"
    pinned = render(None, "image.repository=registry.local/depot", "image.tag=1.2.3")
    assert container(find(pinned, "Deployment", API))["image"] == "registry.local/depot:1.2.3"


def test_component_labels_select_the_right_pods() -> None:
    docs = render("default")
    for name, component in ((API, "api"), (WORKER, "worker")):
        deployment = find(docs, "Deployment", name)
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/component"] == component
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    service = find(docs, "Service", "depot")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_config_changes_roll_the_pods() -> None:
    def checksums(*sets: str) -> dict[str, str]:
        pod = find(render(None, "secrets.s3SecretAccessKey=fixed-for-test", *sets), "Deployment", API)
        return pod["spec"]["template"]["metadata"]["annotations"]

    base = checksums()
    assert re.fullmatch(r"[0-9a-f]{64}", base["checksum/config"])
    assert re.fullmatch(r"[0-9a-f]{64}", base["checksum/secret"])
    assert checksums() == base  # stable when nothing changed
    assert checksums("config.maxUploadSize=1000")["checksum/config"] != base["checksum/config"]
    assert checksums("secrets.apiKeys=k")["checksum/secret"] != base["checksum/secret"]


def test_replicas_are_left_to_the_hpa_when_autoscaling() -> None:
    docs = render("ingress")
    for name, low, high in ((API, 3, 12), (WORKER, 1, 5)):
        assert "replicas" not in find(docs, "Deployment", name)["spec"]
        hpa = find(docs, "HorizontalPodAutoscaler", name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (low, high)
    default = render("default")
    assert find(default, "Deployment", API)["spec"]["replicas"] == 2
    assert not [d for d in default if d["kind"] == "HorizontalPodAutoscaler"]


def test_disruption_budgets_never_block_a_drain_by_default() -> None:
    docs = render("default")
    assert find(docs, "PodDisruptionBudget", API)["spec"]["minAvailable"] == 1  # 2 replicas
    worker = find(docs, "PodDisruptionBudget", WORKER)["spec"]
    assert worker["maxUnavailable"] == 1 and "minAvailable" not in worker  # 1 replica


def test_service_account_is_used_without_a_token() -> None:
    docs = render("default")
    account = find(docs, "ServiceAccount", "depot")
    assert account["automountServiceAccountToken"] is False
    for name in (API, WORKER):
        assert find(docs, "Deployment", name)["spec"]["template"]["spec"]["serviceAccountName"] == "depot"
