"""Every ``DepotError`` becomes its status code and the JSON error body, in one place (``api/errors.py``).

In process: ``create_app(settings)`` with Litestar's test client (the lifespan opens real
SeaweedFS and Redis clients), plus one route that raises the error it is named after."""

from collections.abc import Iterator

import pytest
from litestar import get
from litestar.testing import TestClient

import service.storage.tus_write  # noqa: F401 - defines ShortBody, a tus PATCH body cut short
import service.upstreams.base  # noqa: F401 - defines Transient, a DepotError raised below the API
import service.workers.model_vetting  # noqa: F401 - defines ModelRefused, the scan's refusal of a model
from service.api.app import create_app
from service.errors import DepotError, RangeNotSatisfiable


def every_subclass(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *every_subclass(sub)]
    return found


# The controllers' dependencies and path parameters are inferred by name, which Litestar 2.25 warns
# about when the app is built (still supported until 3.0; the subprocess servers never see it).
pytestmark = pytest.mark.filterwarnings("ignore::litestar.exceptions.LitestarDeprecationWarning")

ERRORS = {cls.__name__: cls for cls in [DepotError, *every_subclass(DepotError)]}
EXPECTED_STATUS = {
    "DepotError": 500,
    "InvalidInput": 400,
    "Forbidden": 403,
    "NotFound": 404,
    "Conflict": 409,
    "TooLarge": 413,
    "DependencyDown": 503,
    "RangeNotSatisfiable": 416,
    "Transient": 503,
    "RequestTimeout": 408,
    "DigestMismatch": 400,
    "ChecksumMismatch": 460,
    "UnsupportedMediaType": 415,
    "Locked": 423,
    "VersionMismatch": 412,
    "ModelRefused": 400,
    "ShortBody": 400,
    "CorruptManifest": 500,
}


def make(name: str) -> DepotError:
    return RangeNotSatisfiable(1234) if name == "RangeNotSatisfiable" else ERRORS[name](f"{name} happened")


@get("/test-only/raise/{name:str}", sync_to_thread=False)
def raise_error(name: str) -> None:
    raise make(name)


@pytest.fixture(scope="module")
def app_client(settings) -> Iterator[TestClient]:
    app = create_app(settings)
    app.register(raise_error)
    with TestClient(app) as client:
        yield client


def test_every_error_class_has_an_expected_status():
    assert sorted(ERRORS) == sorted(EXPECTED_STATUS)


@pytest.mark.parametrize("name", sorted(EXPECTED_STATUS))
def test_error_maps_to_status_and_json_body(app_client, name):
    error = make(name)
    response = app_client.get(f"/test-only/raise/{name}")
    assert response.status_code == EXPECTED_STATUS[name] == error.status_code
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": False, "error": error.message}
    if response.status_code == 503:
        assert response.headers["retry-after"] == "5"
    if name == "RangeNotSatisfiable":
        assert response.headers["content-range"] == "bytes */1234"


def test_the_app_serves_its_own_routes_in_process(app_client):
    response = app_client.get("/api/v1/data/files/training/data/missing.csv")
    assert response.status_code == 404 and response.json()["success"] is False
    assert app_client.get("/health/ready").json()["checks"] == {"s3": "ok", "redis": "ok"}
