"""The chart sets exactly Depot's settings: every DEPOT_* name is a Settings field, every required one is set,
and the values it renders are accepted by Settings itself."""

import base64
import os
import re

import pytest
import yaml

from service.settings import Settings
from service.workers.settings import worker_options
from tests.chart.render import CHART, VARIANTS, container, find, render, run_helm

PREFIX = "DEPOT_"
FIELDS = {PREFIX + name.upper() for name in Settings.model_fields}
# What a cluster install cannot run without, whatever the defaults say (a default of localhost is wrong there).
NEEDED_IN_CLUSTER = {
    "DEPOT_HOST", "DEPOT_PORT", "DEPOT_S3_ACCESS_KEY_ID", "DEPOT_S3_SECRET_ACCESS_KEY", "DEPOT_S3_REGION",
    "DEPOT_BUCKET_PREFIX", "DEPOT_REDIS_URL", "DEPOT_MAX_UPLOAD_SIZE", "DEPOT_WORKER_JOB_COMPLETION_WAIT",
}
# The keys values.yaml says an existing Secret must hold (secrets.existingSecret).
EXISTING_SECRET_KEYS = {"DEPOT_S3_ACCESS_KEY_ID", "DEPOT_S3_SECRET_ACCESS_KEY", "DEPOT_REDIS_URL"}


def chart_env(docs: list[dict]) -> dict[str, str | None]:
    """Every DEPOT_* variable a Depot pod gets: ConfigMap and Secret (via envFrom) and explicit env.
    Values from an existing Secret are unknown (None)."""
    env: dict[str, str | None] = {}
    deployment = find(docs, "Deployment", "depot-api")
    for source in container(deployment)["envFrom"]:
        if "configMapRef" in source:
            env.update(next(d for d in docs if d["kind"] == "ConfigMap"
                            and d["metadata"]["name"] == source["configMapRef"]["name"])["data"])
        else:
            secret = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == source["secretRef"]["name"]]
            if secret:
                env.update({k: base64.b64decode(v).decode() for k, v in secret[0]["data"].items()})
            else:
                env.update(dict.fromkeys(EXISTING_SECRET_KEYS))
    return env


def all_depot_names(docs: list[dict]) -> set[str]:
    """Every DEPOT_* name anywhere in the rendering: ConfigMap/Secret keys, container env, secretKeyRefs."""
    text = yaml.safe_dump_all(docs)
    decoded = " ".join(
        base64.b64decode(v).decode() if d["kind"] == "Secret" else ""
        for d in docs if d["kind"] == "Secret" for v in d.get("data", {}).values()
    )
    return set(re.findall(r"\bDEPOT_[A-Z0-9_]+\b", text)) | set(re.findall(r"\bDEPOT_[A-Z0-9_]+\b", decoded))


def test_settings_know_every_required_name() -> None:
    assert NEEDED_IN_CLUSTER <= FIELDS
    assert "DEPOT_WORKER_JOB_COMPLETION_WAIT" in FIELDS


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_name_the_chart_sets_is_a_setting(variant: str) -> None:
    names = all_depot_names(render(variant))
    assert names, "no DEPOT_* variables rendered"
    assert names <= FIELDS, sorted(names - FIELDS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_required_setting_is_set(variant: str) -> None:
    env = chart_env(render(variant))
    required = {PREFIX + n.upper() for n, f in Settings.model_fields.items() if f.is_required()}
    assert NEEDED_IN_CLUSTER | required <= env.keys(), sorted((NEEDED_IN_CLUSTER | required) - env.keys())
    assert env["DEPOT_HOST"] == "0.0.0.0"  # reachable from the kubelet and the Service


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_values_are_valid_settings(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings parses what the chart renders (types, patterns, bounds); existing-secret values are stand-ins."""
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        monkeypatch.delenv(key)
    env = chart_env(render(variant))
    for key, value in env.items():
        monkeypatch.setenv(key, value if value is not None else "redis://stand-in:6379/0")
    settings = Settings()
    assert settings.host == "0.0.0.0"
    assert settings.s3_access_key_id
    assert settings.worker_job_completion_wait == int(env["DEPOT_WORKER_JOB_COMPLETION_WAIT"])
    assert worker_options(settings)["job_completion_wait"] == settings.worker_job_completion_wait


def test_endpoints_follow_the_bundled_services() -> None:
    default = chart_env(render("default"))
    assert default["DEPOT_S3_ENDPOINT_URL"] == "http://depot-minio:9000"
    assert default["DEPOT_REDIS_URL"] == "redis://depot-redis:6379/0"
    assert default["DEPOT_S3_ACCESS_KEY_ID"] == "depot"
    assert len(default["DEPOT_S3_SECRET_ACCESS_KEY"]) == 32  # generated when not given
    for optional in ("DEPOT_HF_TOKEN", "DEPOT_GITHUB_TOKEN", "DEPOT_API_KEYS"):
        assert optional not in default  # empty means unset, not an empty token

    external = render("external")
    env = chart_env(external)
    assert env["DEPOT_S3_ENDPOINT_URL"] == "https://s3.storage.example.com"
    assert env["DEPOT_BUCKET_PREFIX"] == "acme-depot-"
    assert not [d for d in external if d["kind"] == "Secret"]  # existingSecret: nothing rendered
    refs = container(find(external, "Deployment", "depot-api"))["envFrom"]
    assert {"secretRef": {"name": "depot-credentials"}} in refs


def test_aws_means_no_endpoint() -> None:
    env = chart_env(render(None, "minio.enabled=false", "redis.enabled=false", "secrets.redisUrl=redis://r:6379/0"))
    assert "DEPOT_S3_ENDPOINT_URL" not in env  # empty would not mean AWS to botocore
    assert env["DEPOT_REDIS_URL"] == "redis://r:6379/0"


def test_external_redis_needs_a_url() -> None:
    result = run_helm("template", "depot", str(CHART), "--set", "redis.enabled=false")
    assert result.returncode != 0
    assert "secrets.redisUrl is required" in result.stderr


def test_secret_values_are_used_when_given() -> None:
    env = chart_env(render(None, "secrets.s3SecretAccessKey=given", "secrets.hfToken=hf_x", "secrets.apiKeys=key-1"))
    assert env["DEPOT_S3_SECRET_ACCESS_KEY"] == "given"
    assert env["DEPOT_HF_TOKEN"] == "hf_x"
    assert env["DEPOT_API_KEYS"] == "key-1"


# Settings the chart leaves to their defaults on purpose.
NOT_IN_CHART = {"DEPOT_DEBUG"}  # tracebacks in responses: never in a cluster
# Defaults the chart changes on purpose: cluster addresses instead of localhost, and credentials.
CLUSTER_VALUES = {
    "DEPOT_HOST", "DEPOT_S3_ENDPOINT_URL", "DEPOT_REDIS_URL", "DEPOT_S3_ACCESS_KEY_ID", "DEPOT_S3_SECRET_ACCESS_KEY",
    "DEPOT_PUBLIC_URL",  # the ingress host or the Service's cluster address instead of http://<host>:<port>
}


def test_chart_covers_every_setting() -> None:
    """A new setting must be wired into the chart (values.yaml, ConfigMap or Secret) or listed above."""
    docs = render(None, "secrets.apiKeys=k", "secrets.hfToken=t", "secrets.githubToken=t",
                  "secrets.webhookSecret=t", "secrets.redisPassword=t", "config.redis.caSecret=redis-ca")
    missing = FIELDS - chart_env(docs).keys() - NOT_IN_CHART
    assert not missing, f"add to charts/depot (values.yaml + templates/configmap.yaml or secret.yaml): {sorted(missing)}"


def test_chart_defaults_are_the_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """values.yaml repeats the app's defaults; they must not drift apart."""
    for key in [k for k in os.environ if k.startswith(PREFIX)]:
        monkeypatch.delenv(key)
    env = chart_env(render("default"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    drifted = {}
    for name, field in Settings.model_fields.items():
        key = PREFIX + name.upper()
        if key in env and key not in CLUSTER_VALUES and not field.is_required():
            chart_value = getattr(settings, name)
            chart_value = chart_value.get_secret_value() if hasattr(chart_value, "get_secret_value") else chart_value
            if chart_value != field.default:
                drifted[key] = (env[key], field.default)
    assert not drifted, drifted
    assert len(env) > 20
