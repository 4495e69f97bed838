"""Dependency providers: handlers receive clients opened by the lifespan, never create them."""

from arq.connections import ArqRedis
from litestar.datastructures import State
from litestar.di import Provide

from service.settings import Settings
from service.storage.events import Emitter
from service.storage.files import FileStore
from service.storage.models import ModelStore


def provide_files(state: State) -> FileStore:
    return state.files


def provide_settings(state: State) -> Settings:
    return state.settings


def provide_jobs(state: State) -> ArqRedis:
    """The arq pool for enqueueing background jobs."""
    return state.jobs


def provide_emitter(state: State) -> Emitter:
    """The event log and ingestion queue (``service.storage.events``)."""
    return state.emitter


def provide_live(state: State):
    """Open SSE event streams (``service.api.live.LiveStreams``)."""
    return state.live


def provide_models(state: State) -> ModelStore:
    return state.models


def provide_upstreams(state: State):
    """Hugging Face and GitHub clients for upstream checks (``service.api.imports.Upstreams``)."""
    return state.upstreams


DEPENDENCIES = {
    "files": Provide(provide_files, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "jobs": Provide(provide_jobs, sync_to_thread=False),
    "models": Provide(provide_models, sync_to_thread=False),
    "upstreams": Provide(provide_upstreams, sync_to_thread=False),
    "emitter": Provide(provide_emitter, sync_to_thread=False),
    "live": Provide(provide_live, sync_to_thread=False),
}
