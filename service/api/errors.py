"""The one place where failures become HTTP responses: ``{"success": false, "error": ...}``."""

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from service.errors import DepotError, RangeNotSatisfiable, RequestTimeout

log = structlog.get_logger("depot.api")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        {"success": False, "error": message}, status_code=status, media_type=MediaType.JSON,
        headers=headers,
    )


def depot_error(request: Request, exc: DepotError) -> Response:
    if exc.status_code >= 500:
        log.warning("dependency failure", method=request.method, path=request.url.path, error=exc.message,
                    cause=repr(exc.__cause__))
    headers = {"Content-Range": f"bytes */{exc.size}"} if isinstance(exc, RangeNotSatisfiable) else None
    if exc.status_code == 503:
        headers = {"Retry-After": "5"}
    if isinstance(exc, RequestTimeout):
        headers = {"Connection": "close"}  # the rest of the body is never read
    return error_response(exc.status_code, exc.message, headers)


def validation_error(_: Request, exc: ValidationException) -> Response:
    details = []
    for item in exc.extra or []:
        if isinstance(item, dict):
            where = item.get("key") or item.get("source") or ""
            details.append(f"{where}: {item.get('message', '')}".strip(": "))
    message = "invalid request" + (": " + "; ".join(details) if details else "")
    return error_response(400, message)


def http_error(_: Request, exc: HTTPException) -> Response:
    return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))


def unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", method=request.method, path=request.url.path, exc_info=exc)
    return error_response(500, "internal server error")


EXCEPTION_HANDLERS = {
    DepotError: depot_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
