"""Liveness and readiness for Kubernetes probes."""

import asyncio

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec

from service.api.schemas import ErrorBody, Health
from service.errors import DepotError
from service.storage.files import FileStore


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]

    @get("/live", operation_id="live")
    async def live(self) -> Health:
        """The process answers."""
        return Health(status="ok")

    @get("/ready", operation_id="ready", responses={503: ResponseSpec(ErrorBody, description="a dependency is down")})
    async def ready(self, files: FileStore) -> Response[Health]:
        """S3 (all buckets, created if missing) and Redis answer; 503 otherwise."""

        async def check(probe) -> str:
            try:
                await asyncio.wait_for(probe, timeout=5)
                return "ok"
            except (DepotError, TimeoutError) as exc:
                return getattr(exc, "message", "timeout")

        s3, redis = await asyncio.gather(check(files.ensure_buckets()), check(files.ping()))
        checks = {"s3": s3, "redis": redis}
        ok = all(v == "ok" for v in checks.values())
        body = Health(status="ok" if ok else "unavailable", checks=checks)
        if ok:
            return Response(body)
        return Response({"success": False, "error": "dependency unavailable", **body.model_dump()}, status_code=503)
