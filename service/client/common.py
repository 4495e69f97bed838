"""Options every client command shares, and the wrapper that turns failures into one line."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from service.client.api import DepotClient
from service.client.config import resolve
from service.client.errors import ClientError
from service.client.output import print_error

Url = Annotated[str | None, typer.Option(
    "--url", envvar="DEPOT_URL", show_default=False, rich_help_panel="Connection",
    help="Depot server URL (else the config file, else http://127.0.0.1:8080)",
)]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="DEPOT_API_KEY", show_default=False, show_envvar=False, rich_help_panel="Connection",
    help="API key, sent as 'Authorization: Bearer KEY' (env DEPOT_API_KEY, else the config file)",
)]
Config = Annotated[str | None, typer.Option(
    "--config", envvar="DEPOT_CONFIG", show_default=False, rich_help_panel="Connection",
    help="TOML file with url and api_key (default ~/.config/depot/config.toml)",
)]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show error details", rich_help_panel="Connection")]
Json = Annotated[bool, typer.Option("--json", help="print JSON for scripts instead of tables")]


@contextmanager
def connect(url: str | None, api_key: str | None, config: str | None, verbose: bool) -> Iterator[DepotClient]:
    """A client for one command; any ``ClientError`` becomes ``error: ...`` and exit code 1."""
    try:
        settings = resolve(url, api_key, config, os.environ.get("XDG_CONFIG_HOME"), verbose)
        with DepotClient(settings) as client:
            yield client
    except ClientError as exc:
        print_error(exc.message, exc.detail, verbose)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        print_error("interrupted")
        raise typer.Exit(130) from None


def fail(message: str) -> None:
    """Stop a command with a one-line error (usage mistakes found after parsing)."""
    raise ClientError(message)
