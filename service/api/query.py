"""One rule for query strings: a parameter is given at most once, unless its handler takes a list.

Litestar hands a handler the last of repeated values, while ``connection.query_params.get``
(what guards read) gives the first: ``?purpose=training&purpose=ingestion`` once let a
training-bound key list ingestion files. This app-level guard runs before the auth guard on
every route and refuses repeats (400), so every reader of the query string sees the one value."""

from collections import Counter

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from service.errors import InvalidInput


def list_parameters(handler: BaseRouteHandler) -> frozenset[str]:
    """Query names the handler declares as sequences (``list[str]``...): the only ones that may repeat."""
    names = set()
    for name, field in handler.parsed_fn_signature.parameters.items():
        if field.is_non_string_sequence:
            declared = field.kwarg_definition  # Parameter(query=...) (deprecated) or QueryParameter(name=...)
            names.add(getattr(declared, "query", None) or getattr(declared, "name", None) or name)
    return frozenset(names)


def refuse_repeated_query(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The guard: 400 when a single-valued query parameter appears more than once."""
    if not connection.scope.get("query_string"):
        return
    counts = Counter(connection.query_params.keys())
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        repeated = [name for name in repeated if name not in list_parameters(handler)]
    if repeated:
        raise InvalidInput(f"query parameter {', '.join(map(repr, repeated))} given more than once")
