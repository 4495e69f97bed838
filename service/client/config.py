"""Where the client finds its server and key: flag, then environment, then config file.

``DEPOT_URL`` and ``DEPOT_API_KEY`` are client-side names, read by typer (``envvar=``) for the
command options; the server's ``Settings`` never sees them. The config file is TOML:

    # ~/.config/depot/config.toml  (or $XDG_CONFIG_HOME/depot/config.toml, or $DEPOT_CONFIG)
    url = "http://depot.internal:8080"
    api_key = "dpk_..."
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from service.client.errors import ClientError

DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class ClientConfig:
    url: str
    api_key: str | None
    verbose: bool = False


def config_path(explicit: str | None, xdg_config_home: str | None) -> Path:
    """The config file to read: ``--config``/``DEPOT_CONFIG``, else the XDG location."""
    if explicit:
        return Path(explicit).expanduser()
    base = Path(xdg_config_home).expanduser() if xdg_config_home else Path.home() / ".config"
    return base / "depot" / "config.toml"


def read_config_file(path: Path, required: bool) -> dict[str, str]:
    """The ``url``/``api_key`` keys of a TOML file; a missing default file is simply empty."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ClientError(f"config file {path} does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ClientError(f"cannot read config file {path}: {exc}") from None
    unknown = sorted(set(data) - {"url", "api_key"})
    if unknown:
        raise ClientError(f"config file {path}: unknown keys {', '.join(unknown)} (known: url, api_key)")
    return {k: str(v) for k, v in data.items()}


def resolve(
    url: str | None, api_key: str | None, config: str | None, xdg_config_home: str | None,
    verbose: bool = False,
) -> ClientConfig:
    """Flags and environment (already merged by typer) win over the file, the file over defaults."""
    path = config_path(config, xdg_config_home)
    from_file = read_config_file(path, required=bool(config))
    chosen_url = (url or from_file.get("url") or DEFAULT_URL).rstrip("/")
    if not chosen_url.startswith(("http://", "https://")):
        raise ClientError(f"server URL {chosen_url!r} must start with http:// or https://")
    return ClientConfig(chosen_url, api_key or from_file.get("api_key") or None, verbose)
