"""Where Redis is and how to reach it: URL, password, TLS and Sentinel, for redis-py and arq alike.

``DEPOT_REDIS_URL`` may be ``redis://`` or ``rediss://`` (TLS), with ``user:password@`` in it;
``DEPOT_REDIS_PASSWORD`` supplies the password apart from the URL (from a Kubernetes Secret),
``DEPOT_REDIS_CA_FILE`` a CA bundle for a private CA, ``DEPOT_REDIS_TLS_VERIFY=false`` turns the
certificate check off. ``DEPOT_REDIS_SENTINELS`` (``host:port,...``) asks those Sentinels for the
master ``DEPOT_REDIS_SENTINEL_MASTER``; the URL then gives only the scheme (TLS or not), the
credentials and the database (Sentinels themselves are reached without a password: arq's Sentinel
support passes none to them). Every client of every process (the API's pools, the worker's arq
pool, the CLI, the probes) is built from one ``RedisTarget``, so they all get the same options."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis.asyncio as redis
from arq.connections import RedisSettings
from redis.asyncio.sentinel import Sentinel

from service.settings import Settings


@dataclass(frozen=True)
class RedisTarget:
    url: str
    password: str | None = None  # overrides the URL's
    ca_file: str | None = None
    tls_verify: bool = True
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"

    @classmethod
    def of(cls, settings: Settings) -> "RedisTarget":
        """The target ``DEPOT_REDIS_*`` describe."""
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        return cls(
            settings.redis_url,
            password or None,
            settings.redis_ca_file or None,
            settings.redis_tls_verify,
            parse_sentinels(settings.redis_sentinels),
            settings.redis_sentinel_master,
        )

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    def _tls_options(self) -> dict[str, Any]:
        if not self.tls:
            return {}
        options: dict[str, Any] = {
            "ssl_cert_reqs": "required" if self.tls_verify else "none",
            "ssl_check_hostname": self.tls_verify,
        }
        if self.ca_file:
            options["ssl_ca_certs"] = self.ca_file
        return options

    def _password(self) -> str | None:
        return self.password or (unquote(urlsplit(self.url).password or "") or None)

    def client(self, **options: Any) -> redis.Redis:
        """A redis-py asyncio client (a connection pool) with these options plus TLS and password."""
        options.update(self._tls_options())
        if self.password:
            options["password"] = self.password
        if not self.sentinels:
            return redis.Redis.from_url(self.url, **options)
        parts = urlsplit(self.url)
        options.setdefault("password", self._password())
        options.update(
            username=unquote(parts.username) if parts.username else None,
            db=int(parts.path.lstrip("/") or 0),
            ssl=self.tls,
        )
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=self._sentinel_options(), **options)
        return sentinel.master_for(self.sentinel_master, redis_class=redis.Redis)

    def _sentinel_options(self) -> dict[str, Any]:
        """Sentinels share the master's TLS but not its password, as in arq (which cannot pass one)."""
        return {"socket_connect_timeout": 3, "ssl": self.tls, **self._tls_options()}

    def arq_settings(self) -> RedisSettings:
        """arq's connection settings for the worker's pool: the same TLS, password and Sentinels."""
        settings = RedisSettings.from_dsn(self.url)
        settings.password = self._password()
        if self.tls:
            settings.ssl_cert_reqs = "required" if self.tls_verify else "none"
            settings.ssl_check_hostname = self.tls_verify
            settings.ssl_ca_certs = self.ca_file
        if self.sentinels:
            settings.host, settings.port = list(self.sentinels), 0
            settings.sentinel, settings.sentinel_master = True, self.sentinel_master
        return settings


def parse_sentinels(raw: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` → ((host, port), ...); a missing port is Sentinel's 26379."""
    found = []
    for item in (i.strip() for i in raw.split(",")):
        if item:
            host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
            found.append((host.strip("[]"), int(port)))
    return tuple(found)
