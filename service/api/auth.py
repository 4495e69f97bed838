"""API-key authentication (middleware), scope and purpose checks (a guard), rate limiting.

Keys come as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are matched by
hash against ``DEPOT_API_KEYS`` (see ``service.domain.apikeys``). Every route needs a key
except the operational ones in ``PUBLIC_PATHS`` (probes, metrics, the OpenAPI document and
the UI's static page, whose own API calls carry the key). No key configured = auth off,
announced by a warning at start-up.

The scope a route needs: its ``opt["scope"]`` if set, ``admin`` for maintenance paths
(reindex, events), else by method: GET/HEAD ``read``, DELETE ``delete``, others ``write``."""

import re

import structlog
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from service.domain.apikeys import ApiKey, lookup, parse_keys
from service.domain.categories import Purpose
from service.errors import Forbidden
from service.settings import Settings

log = structlog.get_logger("depot.api")

PUBLIC_PATHS = [r"^/health(/|\Z)", r"^/metrics(/|\Z)", r"^/schema(/|\Z)", r"^/ui(/|\Z)"]  # \Z: "$" allows a final "\n"
ADMIN_PATHS = re.compile(r"(^|/)(reindex|events|admin)(/|\Z)")
DATA_PATHS = "/api/v1/data/"
_PUBLIC = re.compile("|".join(PUBLIC_PATHS))


def presented_key(connection: ASGIConnection) -> str | None:
    """The key the request presents; ``""`` (a bad key) when it is malformed or more than one is sent,
    so no reader can pick a different one of several keys."""
    sent = connection.headers.getall("authorization", []) + connection.headers.getall("x-api-key", [])
    if len(sent) > 1:
        return ""
    header = connection.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but not a Bearer token: a bad key, not a missing one
    return connection.headers.get("x-api-key")


class ApiKeyMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.auth`` to the caller's ``ApiKey`` (401 without a valid one), then rate-limits."""

    def __init__(self, app, keys: dict[str, ApiKey], **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.keys = keys

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        raw = presented_key(connection)
        if raw is None:
            raise NotAuthorizedException("missing API key (Authorization: Bearer <key> or X-API-Key)",
                                         headers={"WWW-Authenticate": "Bearer"})
        key = lookup(self.keys, raw)
        if key is None:
            raise NotAuthorizedException("invalid API key", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        clients = getattr(connection.app.state, "clients", None)  # set by the lifespan (service.wiring)
        if clients is not None:
            rate = clients.limiter.rate if key.rate_limit_per_minute is None else key.rate_limit_per_minute
            wait = await clients.limiter.wait_seconds(key.ident, rate, key.rate_limit_burst)
            if wait:
                raise TooManyRequestsException(f"rate limit of {rate} requests per minute exceeded",
                                               headers={"Retry-After": str(wait)})
        return AuthenticationResult(user=key.name, auth=key)


def required_scope(connection: ASGIConnection, handler: BaseRouteHandler) -> str:
    if "scope" in handler.opt:
        return handler.opt["scope"]
    if ADMIN_PATHS.search(connection.url.path):
        return "admin"
    method = connection.scope.get("method", "GET")
    return {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method, "write")


def require_scope(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The guard on every route: the key's scopes and purpose must cover the request."""
    if _PUBLIC.search(connection.url.path) or handler.opt.get("exclude_from_auth"):
        return
    key: ApiKey | None = connection.scope.get("auth")
    if key is None:  # the middleware ran for every non-public route; this is a safety net
        raise NotAuthorizedException("missing API key")
    scope = required_scope(connection, handler)
    if not key.allows(scope):
        raise PermissionDeniedException(f"this API key lacks the '{scope}' scope")
    if key.purpose is not None:
        check_purpose_route(connection, handler, key)


def check_purpose_route(connection: ASGIConnection, handler: BaseRouteHandler, key: ApiKey) -> None:
    """A purpose-bound key reaches only data routes of its purpose (uploads check the form field)."""
    path = connection.url.path
    if not (path.startswith(DATA_PATHS) or handler.opt.get("purpose_checked")):
        raise PermissionDeniedException(f"this API key is limited to '{key.purpose.value}' data files")
    file_path = connection.path_params.get("file_path")
    if file_path is not None:
        if str(file_path).strip("/").split("/", 1)[0] != key.purpose.value:
            raise PermissionDeniedException(f"this API key is limited to purpose '{key.purpose.value}'")
        return
    values = connection.query_params.getall("purpose", [])
    if len(values) > 1:  # refused earlier (service/api/query.py); never guess which one the handler reads
        raise PermissionDeniedException("purpose given more than once")
    asked = values[0] if values else None
    if asked is not None and str(asked) != key.purpose.value:
        raise PermissionDeniedException(f"this API key is limited to purpose '{key.purpose.value}'")
    if asked is None and path.rstrip("/").endswith("/files"):
        raise PermissionDeniedException(f"this API key is limited to purpose '{key.purpose.value}': "
                                        f"add purpose={key.purpose.value}")


def bound_purpose(connection: ASGIConnection) -> Purpose | None:
    """The purpose the caller's key is limited to (None: any, or auth off)."""
    key = connection.scope.get("auth")
    return key.purpose if isinstance(key, ApiKey) else None


def require_purpose(connection: ASGIConnection, purpose: str) -> None:
    """For handlers that learn the purpose from the body (uploads): 403 if the key is bound elsewhere."""
    key = connection.scope.get("auth")
    if isinstance(key, ApiKey) and key.purpose is not None and key.purpose.value != str(purpose):
        raise Forbidden(f"this API key is limited to purpose '{key.purpose.value}'")


def auth_setup(settings: Settings) -> tuple[list, list]:
    """(middleware, guards) for the app; nothing and a loud warning when no key is configured."""
    keys = parse_keys(settings.api_keys)  # a broken DEPOT_API_KEYS stops start-up
    if not keys:
        log.warning("AUTHENTICATION IS OFF: no API key is configured (DEPOT_API_KEYS); "
                    "anyone who can reach this server can read, upload and delete. "
                    "Create keys with `depot keys create`.")
        return [], []
    middleware = DefineMiddleware(ApiKeyMiddleware, keys=keys, exclude=PUBLIC_PATHS)
    log.info("authentication on", keys=len(keys), rate_limit_per_minute=settings.rate_limit_per_minute)
    return [middleware], [require_scope]


def openapi_security(enabled: bool) -> dict:
    """OpenAPIConfig arguments that declare both key headers when auth is on (nothing when off)."""
    if not enabled:
        return {}
    from litestar.openapi.spec import Components, SecurityScheme

    return {
        "components": Components(security_schemes={
            "bearer": SecurityScheme(type="http", scheme="bearer", description="an API key as a Bearer token"),
            "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
        }),
        "security": [{"bearer": []}, {"apiKey": []}],
    }


AUTH_RESPONSES = {"401": "missing or invalid API key", "403": "the API key lacks the scope or purpose",
                  "429": "rate limit of this API key exceeded (see Retry-After)"}


def document_auth(app):
    """Declare 401/403/429 on every protected operation of the app's OpenAPI document (auth on only):
    responses cannot be set app-wide in Litestar, so the built document is completed once here."""
    from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Reference

    body = {"application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/ErrorBody"))}
    for path, item in (app.openapi_schema.paths or {}).items():
        if _PUBLIC.search(path):
            continue
        for method in ("get", "put", "post", "delete", "patch", "head"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            operation.responses = operation.responses or {}
            for status, text in AUTH_RESPONSES.items():
                operation.responses.setdefault(status, OpenAPIResponse(description=text, content=body))
    return app
