"""API keys against a real API process: 401/403/429 as JSON, scopes, purpose-bound keys,
open operational routes, a rate limit shared through Redis, and the CLI and UI with auth on."""

import json
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from service.domain.apikeys import entry_for, hash_key, parse_scopes
from service.domain.categories import Purpose
from tests.conftest import stored_keys
from tests.support import ApiServer, start_api

KEYS = {
    "admin": ("dpk_admin_" + "a" * 40, "admin", None),
    "reader": ("dpk_reader_" + "r" * 40, "read", None),
    "writer": ("dpk_writer_" + "w" * 40, "read,write", None),
    "deleter": ("dpk_deleter_" + "d" * 40, "read,delete", None),
    "trainer": ("dpk_trainer_" + "t" * 40, "read,write,delete", "training"),
}


def keys_config(names=KEYS) -> str:
    return json.dumps([entry_for(n, hash_key(k), parse_scopes(s), Purpose(p) if p else None)
                       for n, (k, s, p) in names.items()])


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture(scope="module")
def auth_api(base_env, tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(base_env, tmp_path_factory.mktemp("auth-api"), api_keys=keys_config(),
                       rate_limit_per_minute="100000", rate_limit_burst="10000")
    yield server
    server.stop()


@pytest.fixture
def http(auth_api, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=auth_api.url, timeout=60) as client:
        yield client


def upload(http: httpx.Client, key: str, purpose: str = "training", name: str = "a.txt") -> httpx.Response:
    return http.post("/api/v1/data/upload", data={"purpose": purpose}, files={"file": (name, b"hello")},
                     headers=bearer(key))


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]
    return body


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer dpk_wrong"}, {"X-API-Key": "dpk_wrong"}, {"Authorization": "Basic Zm9vOmJhcg=="},
    {"Authorization": "Bearer"}, {"Authorization": "Bearer " + hash_key(KEYS["admin"][0])},
], ids=["none", "bad-bearer", "bad-x-api-key", "basic", "empty-bearer", "hash-as-key"])
def test_missing_or_bad_key_is_401_json_on_every_api_route(http, headers, settings, s3):
    routes = [("GET", "/api/v1/data/files"), ("GET", "/api/v1/data/stats"),
              ("GET", "/api/v1/data/files/training/text/a_20260101_000000_abcd.txt"),
              ("DELETE", "/api/v1/data/files/training/text/a_20260101_000000_abcd.txt"),
              ("POST", "/api/v1/data/upload"), ("GET", "/v1/models/"), ("POST", "/v1/upload/huggingface"),
              ("GET", "/v1/upload/tasks/00000000000000000000000000000000")]
    for method, path in routes:
        response = http.request(method, path, headers=headers)
        assert_error(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert stored_keys(s3, settings.bucket("training")) == []


def test_both_headers_are_accepted(http):
    assert http.get("/api/v1/data/files", headers=bearer("reader")).status_code == 200
    assert http.get("/api/v1/data/files", headers={"X-API-Key": KEYS["reader"][0]}).status_code == 200
    assert http.get("/api/v1/data/files", headers={"Authorization": "bearer " + KEYS["reader"][0]}).status_code == 200


def test_scopes(http, settings, s3):
    assert_error(upload(http, "reader"), 403)
    assert stored_keys(s3, settings.bucket("training")) == []
    created = upload(http, "writer")
    assert created.status_code == 201, created.text
    path = created.json()["file"]["path"]
    assert http.get(f"/api/v1/data/files/{path}", headers=bearer("reader")).content == b"hello"
    assert_error(http.delete(f"/api/v1/data/files/{path}", headers=bearer("writer")), 403)
    assert_error(http.delete(f"/api/v1/data/files/{path}", headers=bearer("reader")), 403)
    assert http.delete(f"/api/v1/data/files/{path}", headers=bearer("deleter")).status_code == 200
    # admin includes every scope
    assert upload(http, "admin").status_code == 201
    assert http.get("/api/v1/data/stats", headers=bearer("admin")).json()["stats"]["total_files"] == 1
    assert http.get("/v1/models/", headers=bearer("reader")).status_code == 200
    assert http.get("/api/v1/events/", headers=bearer("reader")).status_code == 200  # events: the read scope
    assert_error(http.post("/v1/upload/huggingface", json={"model_tag": "a/b"}, headers=bearer("reader")), 403)


def test_purpose_bound_key(http, settings, s3):
    assert_error(upload(http, "trainer", purpose="ingestion"), 403)
    assert_error(upload(http, "trainer", purpose=""), 403)  # the default purpose is ingestion
    assert stored_keys(s3, settings.bucket("ingestion")) == []
    own = upload(http, "trainer").json()["file"]["path"]
    other = upload(http, "admin", purpose="ingestion").json()["file"]["path"]
    assert http.get(f"/api/v1/data/files/{own}", headers=bearer("trainer")).status_code == 200
    assert_error(http.get(f"/api/v1/data/files/{other}", headers=bearer("trainer")), 403)
    assert_error(http.delete(f"/api/v1/data/files/{other}", headers=bearer("trainer")), 403)
    assert_error(http.get("/api/v1/data/files", headers=bearer("trainer")), 403)
    assert_error(http.get("/api/v1/data/files?purpose=ingestion", headers=bearer("trainer")), 403)
    listed = http.get("/api/v1/data/files?purpose=training", headers=bearer("trainer")).json()["files"]
    assert [f["path"] for f in listed] == [own]
    assert_error(http.get("/v1/models/", headers=bearer("trainer")), 403)
    batch = http.post("/api/v1/data/upload", data={"purpose": "ingestion"}, headers=bearer("trainer"),
                      files=[("file", ("b1.txt", b"one")), ("file", ("b2.txt", b"two"))])
    assert_error(batch, 403)
    assert stored_keys(s3, settings.bucket("ingestion")) == [f"text/{other.split('/')[-1]}",
                                                            f"text/{other.split('/')[-1]}.meta.json"]
    assert http.delete(f"/api/v1/data/files/{own}", headers=bearer("trainer")).status_code == 200
    assert http.get(f"/api/v1/data/files/{other}", headers=bearer("admin")).status_code == 200


def test_operational_routes_stay_open(http):
    for path in ("/health/live", "/health/ready", "/metrics", "/schema/openapi.json", "/ui/"):
        assert http.get(path).status_code == 200, path
    schema = http.get("/schema/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}  # the contract says keys are needed
    assert {"401", "403", "429"} <= set(schema["paths"]["/api/v1/data/stats"]["get"]["responses"])
    assert "401" not in schema["paths"]["/health/live"]["get"]["responses"]


def test_bad_key_config_stops_start_up(base_env, tmp_path):
    for broken in ('[{"hash": "plain-text-key", "scopes": ["read"]}]', "not json",
                   '[{"hash": "sha256:' + "0" * 64 + '", "scopes": ["root"]}]'):
        with pytest.raises(RuntimeError, match="API exited"):
            start_api(base_env, tmp_path / str(abs(hash(broken))), api_keys=broken)


def test_auth_off_is_announced_loudly(api):
    assert "AUTHENTICATION IS OFF" in api.log()


def test_keys_create_prints_a_working_key(base_env, tmp_path, clean):
    result = subprocess.run([sys.executable, "-m", "service", "keys", "create", "--scopes", "read,write",
                             "--purpose", "training", "--name", "lab"], capture_output=True, text=True, check=True)
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    key, entry = lines["key"].strip(), json.loads(lines["entry"])
    assert entry == {"name": "lab", "hash": lines["hash"].strip(), "scopes": ["read", "write"], "purpose": "training"}
    assert key not in result.stdout.replace(lines["key"], "")  # the key is printed once, the config holds a hash
    server = start_api(base_env, tmp_path, api_keys=json.dumps([entry]))
    try:
        ok = httpx.post(server.url + "/api/v1/data/upload", data={"purpose": "training"},
                        files={"file": ("k.txt", b"x")}, headers={"X-API-Key": key})
        assert ok.status_code == 201, ok.text
        assert httpx.delete(server.url + "/api/v1/data/files/" + ok.json()["file"]["path"],
                            headers={"X-API-Key": key}).status_code == 403
    finally:
        server.stop()


def test_rate_limit_is_per_key_and_shared_across_processes(base_env, tmp_path, clean):
    """Two API processes share one Redis-held budget per key: a burst of 3, then 429 with Retry-After."""
    config = keys_config({"reader": KEYS["reader"], "writer": KEYS["writer"]})
    first = start_api(base_env, tmp_path / "a", api_keys=config, rate_limit_per_minute="2", rate_limit_burst="3")
    second = start_api(base_env, tmp_path / "b", api_keys=config, rate_limit_per_minute="2", rate_limit_burst="3")
    try:
        statuses = [httpx.get(server.url + "/api/v1/data/files", headers=bearer("reader")).status_code
                    for server in (first, second, first)]
        assert statuses == [200, 200, 200]
        for server in (second, first):
            limited = httpx.get(server.url + "/api/v1/data/files", headers=bearer("reader"))
            assert_error(limited, 429)
            assert int(limited.headers["retry-after"]) >= 1
        assert httpx.get(second.url + "/api/v1/data/files", headers=bearer("writer")).status_code == 200
        assert httpx.get(first.url + "/health/live").status_code == 200  # probes are never limited
    finally:
        first.stop()
        second.stop()


def test_cli_client_sends_the_key(auth_api, base_env, tmp_path, clean):
    env = {k: v for k, v in base_env.items() if not k.startswith("DEPOT_")}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_STATE_HOME": str(tmp_path / "s"), "NO_COLOR": "1",
                "DEPOT_URL": auth_api.url})
    sample = tmp_path / "cli.txt"
    sample.write_bytes(b"from the cli")

    def depot(*args: str, key: str | None) -> subprocess.CompletedProcess:
        extra = {"DEPOT_API_KEY": KEYS[key][0]} if key else {}
        return subprocess.run([sys.executable, "-m", "service", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=120, check=False)

    denied = depot("ls", key=None)
    assert denied.returncode != 0 and "API key" in denied.stdout + denied.stderr
    assert depot("upload", str(sample), "--purpose", "training", key="writer").returncode == 0
    listed = depot("ls", "--json", key="reader")
    assert listed.returncode == 0, listed.stderr
    assert "cli.txt" in listed.stdout


def test_ui_sends_the_key_from_session_storage(auth_api, clean, tmp_path):
    from playwright.sync_api import expect

    from tests.e2e.browser import launch

    httpx.post(auth_api.url + "/api/v1/data/upload", data={"purpose": "training"},
               files={"file": ("seen.txt", b"ui")}, headers=bearer("writer")).raise_for_status()
    with launch() as browser:
        context = browser.new_context(base_url=auth_api.url)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto("/ui#browse")
        expect(page.locator("#files-body tr")).to_have_count(0)  # no key yet: the API said 401
        page.get_by_label("API key").fill(KEYS["reader"][0])
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#files-body")).to_contain_text("seen.txt")
        context.close()


def test_dataset_imports_need_write_and_the_keys_purpose(http):
    body = {"repo_id": "depot/tiny-parquet", "purpose": "ingestion"}
    assert_error(http.post("/api/v1/data/import/huggingface", json=body, headers=bearer("reader")), 403)
    refused = assert_error(http.post("/api/v1/data/import/huggingface", json=body, headers=bearer("trainer")), 403)
    assert "limited to purpose 'training'" in refused["error"]
    assert_error(http.post("/api/v1/data/import/huggingface", json=body), 401)
