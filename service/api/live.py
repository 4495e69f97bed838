"""Open SSE event streams: their own Redis pool (opened by ``service.wiring``), a bound per API
key and per process, and an end when the server stops.

Uvicorn waits for open responses to finish before it runs the lifespan shutdown, so an SSE
stream would hold a graceful shutdown for its whole timeout. The exit signals uvicorn catches
(SIGINT, SIGTERM) are therefore chained here to set ``stop``, which ends every stream at once
(clients reconnect elsewhere with ``Last-Event-ID``: nothing is lost)."""

import asyncio
import signal
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar.exceptions import TooManyRequestsException

from service.settings import Settings
from service.storage.events import EventLog

log = structlog.get_logger("depot.api")
EXIT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Slot:
    """One open stream's place; released when the stream ends or its generator is collected."""

    def __init__(self, owner: str | None) -> None:
        self.owner = owner
        self.open = True

    def release(self) -> None:
        self.open = False


class LiveStreams:
    """What every open stream shares: the log to follow, the bounds, and the stop signal."""

    def __init__(self, events: EventLog, settings: Settings) -> None:
        self.log = events
        self.per_key = settings.events_streams_per_key
        self.total = settings.events_streams_max
        self.heartbeat = settings.events_heartbeat
        self.stop = asyncio.Event()
        self._slots: weakref.WeakSet[Slot] = weakref.WeakSet()
        self._restore: list[tuple] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, events: EventLog, settings: Settings) -> AsyncIterator["LiveStreams"]:
        """Streams follow ``events``: the log on a pool of their own (``Clients.followers``), sized
        for all of them; every stream ends when this context does."""
        live = cls(events, settings)
        live.chain_exit_signals()
        try:
            yield live
        finally:
            live.stop.set()
            live.unchain_exit_signals()

    def chain_exit_signals(self) -> None:
        """Set ``stop`` on SIGINT/SIGTERM, then run the handler already installed (uvicorn's)."""
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous) -> None:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self.stop.set)
                if callable(previous):
                    previous(signum, frame)

            try:
                signal.signal(sig, handler)
            except ValueError:  # not the main thread (an embedded server): the lifespan end still stops streams
                log.info("event streams: exit signals not chained (not in the main thread)")
                return
            self._restore.append((sig, handler, previous))

    def unchain_exit_signals(self) -> None:
        """Put the previous handlers back where ours is still installed."""
        for sig, handler, previous in reversed(self._restore):
            if signal.getsignal(sig) is handler:
                signal.signal(sig, previous)
        self._restore.clear()

    def acquire(self, owner: str | None) -> Slot:
        """A place for one more stream of ``owner`` (an API key; ``None`` with auth off), else 429."""
        live = [slot for slot in self._slots if slot.open]
        if len(live) >= self.total:
            raise TooManyRequestsException(
                f"this server holds its maximum of {self.total} event streams", headers={"Retry-After": "10"}
            )
        if owner is not None and sum(slot.owner == owner for slot in live) >= self.per_key:
            raise TooManyRequestsException(
                f"this API key already holds {self.per_key} event streams", headers={"Retry-After": "10"}
            )
        slot = Slot(owner)
        self._slots.add(slot)
        return slot
