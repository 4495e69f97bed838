"""Dependency providers: handlers receive clients opened by the lifespan, never create them."""

from litestar.datastructures import State
from litestar.di import Provide

from service.settings import Settings
from service.storage.direct import DirectStore
from service.storage.events import Emitter
from service.storage.files import FileStore
from service.storage.models import ModelStore
from service.storage.queue import JobQueue
from service.storage.tus import TusStore
from service.upstreams import Upstreams


def provide_files(state: State) -> FileStore:
    return state.clients.files


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_queue(state: State) -> JobQueue:
    """The job queue (``service.storage.queue``) for enqueueing background jobs."""
    return state.clients.queue


def provide_emitter(state: State) -> Emitter:
    """The event log and ingestion queue (``service.storage.events``)."""
    return state.clients.emitter


def provide_live(state: State):
    """Open SSE event streams (``service.api.live.LiveStreams``)."""
    return state.live


def provide_tus(state: State) -> TusStore:
    """Resumable (tus) uploads (``service.storage.tus``)."""
    return state.clients.tus


def provide_direct(state: State) -> DirectStore:
    """Direct (presigned) transfers (``service.storage.direct``)."""
    return state.clients.direct


def provide_models(state: State) -> ModelStore:
    return state.clients.models


def provide_upstreams(state: State) -> Upstreams:
    """Hugging Face and GitHub clients for upstream checks."""
    return state.clients.upstreams


DEPENDENCIES = {
    "files": Provide(provide_files, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "queue": Provide(provide_queue, sync_to_thread=False),
    "models": Provide(provide_models, sync_to_thread=False),
    "upstreams": Provide(provide_upstreams, sync_to_thread=False),
    "emitter": Provide(provide_emitter, sync_to_thread=False),
    "live": Provide(provide_live, sync_to_thread=False),
    "tus": Provide(provide_tus, sync_to_thread=False),
    "direct": Provide(provide_direct, sync_to_thread=False),
}
