"""The handler registry and event delivery: built-ins plus entry points ``depot.handlers``.

A handler is a callable taking one typed event (``service.domain.events``), sync or
async; an optional ``events`` attribute (a set of type names) limits what it receives.
A third-party package registers one in its pyproject::

    [project.entry-points."depot.handlers"]
    audit = "mypkg.handlers:audit"

Delivery is at least once (arq may rerun a job), so handlers must be idempotent; one
handler's failure is logged and never stops the others or the webhooks."""

import inspect
import logging
from collections.abc import Awaitable, Callable
from importlib.metadata import entry_points
from typing import Any

from service.domain.categories import Category, Purpose
from service.domain.events import BaseEvent, FileDeleted, FileProcessed
from service.domain.training import parse_thresholds
from service.storage.events import Emitter
from service.storage.training import TrainingCounter

log = logging.getLogger("depot.events")
GROUP = "depot.handlers"
Handler = Callable[[BaseEvent], Awaitable[None] | None]


class TrainingTrigger:
    """Built-in: counts processed training files and fires ``training.ready`` on a crossing."""

    events = {"file.processed", "file.deleted"}

    def __init__(self, counter: TrainingCounter, emitter: Emitter, thresholds: str) -> None:
        self.counter, self.emitter = counter, emitter
        self.thresholds = parse_thresholds(thresholds)

    async def __call__(self, event: BaseEvent) -> None:
        if getattr(event, "purpose", None) != Purpose.training.value:
            return
        category = Category(event.category)
        if isinstance(event, FileDeleted):
            await self.counter.forget(category, event.path)
        elif isinstance(event, FileProcessed) and category in self.thresholds:
            fired = await self.counter.count(category, event.path, event.size, self.thresholds[category])
            if fired:
                log.info("training.ready for %s (event %s)", category.value, fired)
                await self.emitter.deliver(fired)


def log_event(event: BaseEvent) -> None:
    """Built-in: one log line per event."""
    log.info("event %s %s", event.type, event.id)


def load_entry_point_handlers() -> dict[str, Handler]:
    handlers: dict[str, Handler] = {}
    for point in entry_points(group=GROUP):
        try:
            handlers[point.name] = point.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the worker
            log.exception("handler entry point %s (%s) failed to load", point.name, point.value)
    return handlers


def build_registry(counter: TrainingCounter, emitter: Emitter, thresholds: str) -> dict[str, Handler]:
    registry: dict[str, Handler] = {"log": log_event}
    if thresholds:
        registry["training"] = TrainingTrigger(counter, emitter, thresholds)
    for name, handler in load_entry_point_handlers().items():
        registry.setdefault(name, handler)  # built-in names cannot be replaced
    return registry


async def run_handlers(registry: dict[str, Handler], event: BaseEvent) -> list[str]:
    """Call every interested handler; returns the names of those that failed."""
    failed = []
    for name, handler in registry.items():
        wanted = getattr(handler, "events", None)
        if wanted and event.type not in wanted:
            continue
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception:  # noqa: BLE001 - isolated per handler, see the module docstring
            log.exception("handler %s failed on %s %s", name, event.type, event.id)
            failed.append(name)
    return failed


def describe(registry: dict[str, Any]) -> list[str]:
    return sorted(registry)
