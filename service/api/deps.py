"""Dependency providers: handlers receive clients opened by the lifespan, never create them."""

from litestar.datastructures import State
from litestar.di import Provide

from service.settings import Settings
from service.storage.files import FileStore


def provide_files(state: State) -> FileStore:
    return state.files


def provide_settings(state: State) -> Settings:
    return state.settings


DEPENDENCIES = {
    "files": Provide(provide_files, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
