"""Real SeaweedFS and Redis for the whole session, a real API process, a clean state per test."""

import os
from collections.abc import Iterator

import boto3
import httpx
import pytest
import redis
from botocore.config import Config

from service.devstack import Server, empty_buckets, start_redis, start_seaweedfs
from service.settings import Settings
from tests.support import ApiServer, start_api

TEST_MAX_UPLOAD = 24 * 1024 * 1024

# Fixtures of the model-import suites (fake Hub and GitHub, an API pointed at them).
pytest_plugins = ["tests.integration.model_fixtures"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[Server]:
    server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[Server]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def base_env(s3_server: Server, redis_server: Server) -> dict[str, str]:
    """The environment every Depot process of the test session gets."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith("DEPOT_")}
    return {
        **keep,
        "DEPOT_S3_ENDPOINT_URL": s3_server.url,
        "DEPOT_S3_ACCESS_KEY_ID": "depot",
        "DEPOT_S3_SECRET_ACCESS_KEY": "depot-secret",
        "DEPOT_REDIS_URL": redis_server.url,
        "DEPOT_MAX_UPLOAD_SIZE": str(TEST_MAX_UPLOAD),
        "DEPOT_LOG_JSON": "true",
    }


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str], monkeypatch_session) -> Settings:
    for key, value in base_env.items():
        if key.startswith("DEPOT_"):
            monkeypatch_session.setenv(key, value)
    return Settings()


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="session")
def s3(s3_server: Server):
    """A plain boto3 client for looking behind the API."""
    return boto3.client(
        "s3", endpoint_url=s3_server.url, aws_access_key_id="depot", aws_secret_access_key="depot-secret",
        region_name="us-east-1",
        config=Config(request_checksum_calculation="when_required", response_checksum_validation="when_required"),
    )


@pytest.fixture(scope="session")
def redis_client(redis_server: Server) -> redis.Redis:
    return redis.Redis.from_url(redis_server.url, decode_responses=True)


@pytest.fixture(scope="session")
def api(base_env: dict[str, str], tmp_path_factory) -> Iterator[ApiServer]:
    server = start_api(base_env, tmp_path_factory.mktemp("api"), ready_path="/health/ready")
    yield server
    server.stop()


def wipe(s3, redis_client: redis.Redis, settings: Settings) -> None:
    """Empty every Depot bucket and the Redis db.

    SeaweedFS lists no buckets without IAM configured, so the buckets are named."""
    redis_client.flushdb()
    empty_buckets(s3, [settings.bucket(name) for name in ("training", "ingestion", "models")])
    # An empty store's index is complete: what the sweeper's restore_index would mark, so a worker's
    # cron never rebuilds behind a test that flushed Redis (tests/integration/test_sweeper.py).
    redis_client.set(f"{settings.redis_prefix}built", "1")


@pytest.fixture
def clean(s3, redis_client, settings) -> Iterator[None]:
    wipe(s3, redis_client, settings)
    yield


@pytest.fixture
def client(api: ApiServer, clean) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=120) as http:
        yield http


def stored_keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
                  for o in page.get("Contents", []))


def open_uploads(s3, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
