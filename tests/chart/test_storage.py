"""MinIO, Redis and the bucket hook Job; the hook's mc script run twice against a fake mc (idempotency)."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.chart.render import CHART, ROOT, container, find, render

INFRA = ROOT / "infra" / "minio"


def test_minio_runs_single_node_with_a_volume() -> None:
    docs = render("default")
    minio = find(docs, "StatefulSet", "depot-minio")
    assert minio["spec"]["replicas"] == 1
    claim = minio["spec"]["volumeClaimTemplates"][0]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    server = container(minio)
    assert server["args"][:2] == ["server", "/data"]
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in server["env"]}
    assert env["MINIO_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "depot-minio", "key": "root-password"}
    assert env["MINIO_API_STALE_UPLOADS_EXPIRY"]["value"] == "24h"  # MinIO's own stale-upload cleanup
    assert server["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert services["depot-minio"]["spec"]["ports"][0]["port"] == 9000
    assert services["depot-minio-console"]["spec"]["ports"][0]["port"] == 9001
    assert services["depot-minio-headless"]["spec"]["clusterIP"] == "None"
    assert minio["spec"]["serviceName"] == "depot-minio-headless"


def test_minio_console_ingress() -> None:
    docs = render("ingress")
    ingress = find(docs, "Ingress", "depot-minio-console")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "depot-minio-console", "port": {"name": "console"}}}
    assert ingress["spec"]["tls"][0]["secretName"] == "minio-tls"
    env = {e["name"]: e.get("value") for e in container(find(docs, "StatefulSet", "depot-minio"))["env"]}
    assert env["MINIO_BROWSER_REDIRECT_URL"] == "https://minio.example.com"


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    redis = find(render("default"), "StatefulSet", "depot-redis")
    server = container(redis)
    assert server["args"][server["args"].index("--appendonly") + 1] == "yes"
    assert server["args"][server["args"].index("--dir") + 1] == "/data"
    assert {"name": "data", "mountPath": "/data"} in server["volumeMounts"]
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"


def test_redis_refuses_writes_when_full_instead_of_evicting() -> None:
    """noeviction: an evicted index entry, queued job or tombstone would be lost silently."""
    args = container(find(render("default"), "StatefulSet", "depot-redis"))["args"]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--appendfsync") + 1] == "everysec"
    assert args[args.index("--maxmemory") + 1] == "768mb"


def test_an_external_redis_ca_is_mounted_where_the_setting_points() -> None:
    docs = render("external", "config.redis.caSecret=redis-ca", "secrets.redisPassword=pw")
    env = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "depot")["data"]
    assert env["DEPOT_REDIS_CA_FILE"] == "/etc/depot/redis-ca/ca.crt"
    for name in ("depot-api", "depot-worker"):
        pod = find(docs, "Deployment", name)["spec"]["template"]["spec"]
        assert {"name": "redis-ca", "secret": {"secretName": "redis-ca"}} in pod["volumes"]
        assert {"name": "redis-ca", "mountPath": "/etc/depot/redis-ca", "readOnly": True} in \
            container(find(docs, "Deployment", name))["volumeMounts"]


def test_external_storage_deploys_neither() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in render("external")}
    assert not [n for n in names if "minio" in n[1] or "redis" in n[1]]


def bucket_job(variant: str) -> tuple[dict, dict]:
    docs = render(variant)
    return find(docs, "Job", "depot-buckets"), find(docs, "ConfigMap", "depot-buckets")


def test_bucket_job_is_an_idempotent_hook() -> None:
    job, scripts = bucket_job("default")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    step = container(job)
    assert step["command"] == ["/bin/sh", "/scripts/setup.sh"]
    assert step["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    env = {e["name"]: e for e in step["env"]}
    assert env["S3_ENDPOINT"]["value"] == "http://depot-minio:9000"
    assert env["S3_ADMIN_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "depot-minio", "key": "root-password"}
    assert env["DEPOT_S3_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "depot", "key": "DEPOT_S3_SECRET_ACCESS_KEY"}
    assert env["CREATE_USER"]["value"] == "true"
    assert env["ABORT_DAYS"]["value"] == "1"
    assert env["DEPOT_BUCKET_PREFIX"]["value"] == "depot-"
    assert scripts["data"]["setup.sh"] == (INFRA / "mc" / "setup.sh").read_text()


def test_bucket_job_on_external_s3_uses_depots_credentials() -> None:
    job, scripts = bucket_job("external")
    env = {e["name"]: e for e in container(job)["env"]}
    assert env["S3_ENDPOINT"]["value"] == "https://s3.storage.example.com"
    assert env["S3_ADMIN_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "depot-credentials"
    assert env["CREATE_USER"]["value"] == "false"
    assert env["ABORT_DAYS"]["value"] == "3"
    # The policy follows the bucket prefix.
    policy = json.loads(scripts["data"]["depot-policy.json"])
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert "arn:aws:s3:::acme-depot-training/*" in resources
    assert not [r for r in resources if r.startswith("arn:aws:s3:::depot-")]


def test_chart_files_are_the_infra_files() -> None:
    """infra/minio and the chart use the same script and policy, so hand setups match installs."""
    assert (CHART / "files" / "setup.sh").read_bytes() == (INFRA / "mc" / "setup.sh").read_bytes()
    assert (CHART / "files" / "depot-policy.json").read_bytes() == (INFRA / "depot-policy.json").read_bytes()
    _, scripts = bucket_job("default")
    assert json.loads(scripts["data"]["depot-policy.json"]) == json.loads((INFRA / "depot-policy.json").read_text())


def test_policy_is_least_privilege() -> None:
    policy = json.loads((INFRA / "depot-policy.json").read_text())
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not [a for a in actions if "*" in a]
    assert not actions & {"s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"}
    assert {"s3:PutObject", "s3:GetObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"} <= actions
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {f"arn:aws:s3:::depot-{b}{suffix}" for b in ("training", "ingestion", "models") for suffix in ("", "/*")}


def test_lifecycle_example_matches_the_script_rule() -> None:
    rule = json.loads((INFRA / "lifecycle.json").read_text())["Rules"][0]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rule["ID"] in (INFRA / "mc" / "setup.sh").read_text()


FAKE_MC = r"""#!/bin/sh
# A stand-in for mc: logs calls, keeps the state a real server would, fails like mc does.
state="$FAKE_STATE"
echo "$*" >>"$state/calls"
shift 2  # --config-dir DIR
case "$*" in
  "alias set"*) n=$(cat "$state/alias_failures" 2>/dev/null || echo 0)
                if [ "$n" -gt 0 ]; then echo $((n - 1)) >"$state/alias_failures"; exit 1; fi ;;
  "mb --ignore-existing"*) touch "$state/bucket-$(basename "$3")" ;;
  "ilm rule import"*) cat >"$state/lifecycle-$(basename "$4")" ;;
  "admin policy attach"*) if [ -e "$state/attached" ]; then
                            echo "mc: <ERROR> The specified policy change is already in effect." >&2; exit 1
                          fi
                          [ -e "$state/attach_broken" ] && { echo "mc: <ERROR> server down" >&2; exit 1; }
                          touch "$state/attached" ;;
esac
"""


@pytest.fixture
def fake_mc(tmp_path: Path) -> dict[str, str]:
    """PATH with a fake mc and a no-op sleep; the environment the hook Job gives the script."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    (bin_dir / "mc").write_text(FAKE_MC)
    (bin_dir / "sleep").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_STATE": str(state), "TMPDIR": str(tmp_path),
        "S3_ENDPOINT": "http://minio:9000", "S3_ADMIN_ACCESS_KEY": "admin", "S3_ADMIN_SECRET_KEY": "pw",
        "DEPOT_BUCKET_PREFIX": "acme-", "ABORT_DAYS": "2", "CREATE_USER": "true",
        "DEPOT_S3_ACCESS_KEY_ID": "depot", "DEPOT_S3_SECRET_ACCESS_KEY": "depot-pw",
    }


def run_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(INFRA / "mc" / "setup.sh")], env=env, capture_output=True, text=True, timeout=60)


def test_setup_script_twice_gives_the_same_result(fake_mc: dict[str, str]) -> None:
    state = Path(fake_mc["FAKE_STATE"])
    (state / "alias_failures").write_text("2")  # S3 not up yet: the script retries
    first = run_setup(fake_mc)
    assert first.returncode == 0, first.stderr
    second = run_setup(fake_mc)  # an upgrade: policy already attached, buckets exist
    assert second.returncode == 0, second.stderr
    assert "buckets ready: acme-training acme-ingestion acme-models" in second.stdout
    assert sorted(p.name for p in state.glob("bucket-*")) == ["bucket-acme-ingestion", "bucket-acme-models", "bucket-acme-training"]
    rule = json.loads((state / "lifecycle-acme-models").read_text())["Rules"][0]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    calls = (state / "calls").read_text().splitlines()
    assert sum("alias set" in c for c in calls) == 4  # 3 tries on the first run, 1 on the second
    assert all("--ignore-existing" in c for c in calls if " mb " in c)
    policy_create = next(c for c in calls if "admin policy create" in c)
    assert policy_create.endswith(str(INFRA / "depot-policy.json"))  # POLICY_FILE defaults to the file beside


def test_setup_script_fails_on_real_errors(fake_mc: dict[str, str]) -> None:
    (Path(fake_mc["FAKE_STATE"]) / "attach_broken").touch()
    result = run_setup(fake_mc)
    assert result.returncode == 1
    assert "server down" in result.stderr


def test_setup_script_skips_the_user_on_plain_s3(fake_mc: dict[str, str]) -> None:
    result = run_setup({**fake_mc, "CREATE_USER": "false"})
    assert result.returncode == 0, result.stderr
    calls = (Path(fake_mc["FAKE_STATE"]) / "calls").read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["alias"] + ["mb", "ilm"] * 3  # no `mc admin`


@pytest.mark.parametrize("script", sorted((INFRA / "mc").glob("*.sh")), ids=lambda p: p.name)
def test_mc_scripts_are_valid_posix_sh(script: Path) -> None:
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/bin/sh\n")
