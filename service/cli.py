"""``depot``: run the server, the worker, the local stack, and maintenance commands."""

import asyncio
import signal
import sys
import time
from pathlib import Path

import typer

from service.settings import get_settings

app = typer.Typer(help="Depot: upload and ingestion service for ML data and models.", no_args_is_help=True)


@app.command()
def serve(
    host: str = typer.Option(None, help="bind address (default: DEPOT_HOST)"),
    port: int = typer.Option(None, help="port (default: DEPOT_PORT)"),
    workers: int = typer.Option(None, help="server processes (default: DEPOT_WORKERS)"),
) -> None:
    """Run the API server (uvicorn with uvloop and httptools)."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "service.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=30,
    )


@app.command()
def worker(
    burst: bool = typer.Option(False, help="exit when the queue is empty"),
    check: bool = typer.Option(False, help="exit 0 if this host's worker is healthy, 1 if not (a probe)"),
    live: bool = typer.Option(False, help="with --check: only that the worker runs (it may be waiting for Redis)"),
) -> None:
    """Run an arq worker for background jobs (it waits out Redis outages)."""
    from service.logs import configure_logging
    from service.workers.runner import ResilientWorker
    from service.workers.settings import check_health, worker_options

    settings = get_settings()
    if check:
        code, reason = asyncio.run(check_health(settings, live))
        typer.echo(("healthy: " if code == 0 else "unhealthy: ") + reason, err=code != 0)
        raise typer.Exit(code)
    configure_logging(settings.log_level, settings.log_json)
    ResilientWorker(**worker_options(settings), burst=burst, redis_url=settings.redis_url).run()


@app.command()
def reindex() -> None:
    """Rebuild the Redis index from the manifests in S3 (S3 is the truth)."""
    from service.wiring import open_clients

    async def run() -> tuple[int, int]:
        async with open_clients(get_settings()) as clients:
            files = await clients.files.reindex()
            return files, await clients.models.rebuild()

    files, models = asyncio.run(run())
    typer.echo(f"indexed {files} files")
    typer.echo(f"indexed {models} models", err=True)


@app.command()
def verify(
    json_output: bool = typer.Option(False, "--json", help="print the report as JSON"),
    concurrency: int = typer.Option(4, min=1, max=32, help="files hashed at once (memory: about 1 MiB each)"),
) -> None:
    """Re-hash every stored file against its manifest; exit 1 when anything drifted."""
    import json

    from service.storage.verify import verify as run_verify
    from service.wiring import open_clients

    async def run():
        async with open_clients(get_settings()) as clients:
            return await run_verify(clients.files, concurrency)

    report = asyncio.run(run())
    if json_output:
        typer.echo(json.dumps({"checked": report.checked, "bytes": report.bytes, "problems": report.problems,
                               "open_uploads": report.open_uploads, "drift": report.drift}))
    else:
        for problem in report.problems:
            typer.echo(f"DRIFT {problem}")
        for key in report.open_uploads:
            typer.echo(f"open multipart upload (in flight or abandoned): {key}")
        typer.echo(f"verified {report.checked} files, {report.bytes} bytes: "
                   f"{len(report.problems) or 'no'} problem{'s' if len(report.problems) != 1 else ''}")
    if report.drift:
        raise typer.Exit(1)


keys_app = typer.Typer(help="API keys: create a key and the DEPOT_API_KEYS entry that holds its hash.",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scopes: str = typer.Option("read", help="comma-separated: read, write, delete, admin (admin includes all)"),
    purpose: str = typer.Option(None, help="limit the key to one purpose's data files (training, ingestion)"),
    name: str = typer.Option("key", help="a label for logs and rate limits"),
    rate_limit_per_minute: int = typer.Option(None, min=0, help="this key's own rate (0: unlimited); "
                                              "default: DEPOT_RATE_LIMIT_PER_MINUTE"),
    rate_limit_burst: int = typer.Option(None, min=1, help="this key's own burst; default: DEPOT_RATE_LIMIT_BURST"),
) -> None:
    """Print a new API key (shown once) and the JSON entry to add to DEPOT_API_KEYS."""
    import json

    from service.domain.apikeys import entry_for, hash_key, new_key, parse_keys, parse_scopes
    from service.domain.categories import Purpose

    try:
        chosen = parse_scopes(scopes)
        bound = Purpose(purpose) if purpose else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    key = new_key()
    entry = entry_for(name, hash_key(key), chosen, bound)
    limits = {"rate_limit_per_minute": rate_limit_per_minute, "rate_limit_burst": rate_limit_burst}
    entry.update({field: value for field, value in limits.items() if value is not None})
    parse_keys(json.dumps([entry]))  # what we print must be accepted
    typer.echo(f"key:   {key}")
    typer.echo(f"hash:  {entry['hash']}")
    typer.echo(f"entry: {json.dumps(entry)}")
    typer.echo("Give the key to its user (it is not stored anywhere); add the entry to the DEPOT_API_KEYS "
               "JSON list, e.g. DEPOT_API_KEYS='[" + json.dumps(entry) + "]'", err=True)


@app.command()
def dev(
    data_dir: Path = typer.Option(Path(".depot"), help="where SeaweedFS and Redis keep their data"),
    s3_port: int = typer.Option(8333, help="S3 port of the local SeaweedFS"),
    redis_port: int = typer.Option(6379, help="port of the local Redis"),
) -> None:
    """Start the whole local stack: SeaweedFS, Redis, the API and one worker. Ctrl+C stops all.
    An API or worker that exits is restarted (at most 5 times a minute, then the stack stops)."""
    from service.devstack import Supervisor, stack_env, start_redis, start_seaweedfs

    settings = get_settings()
    s3 = start_seaweedfs(data_dir.resolve() / "s3", s3_port)
    redis = start_redis(data_dir.resolve() / "redis", redis_port)
    children = Supervisor({"api": [sys.executable, "-m", "service", "serve"],
                           "worker": [sys.executable, "-m", "service", "worker"]}, stack_env(s3, redis))
    children.start()
    typer.echo(
        f"\nDepot is starting:\n"
        f"  API          http://{settings.host}:{settings.port}   (OpenAPI: /schema, health: /health/ready)\n"
        f"  S3           {s3.url}   (SeaweedFS; admin UI {s3.extra['admin']})\n"
        f"  Redis        {redis.url}\n"
        f"  data         {data_dir.resolve()}\n"
        f"Ctrl+C stops everything.\n"
    )
    stopping = False
    failed: str | None = None

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and failed is None:
            failed = children.check()
            time.sleep(0.5)
    finally:
        children.stop()
        redis.stop()
        s3.stop()
        typer.echo(f"{failed} keeps exiting; stopped" if failed else "stopped")
    if failed:
        raise typer.Exit(1)


# Client commands (upload, ls, get, info, rm, stats, import, tasks, models) live in service/client/.
from service.client.commands import register as register_client_commands  # noqa: E402

register_client_commands(app)


if __name__ == "__main__":  # pragma: no cover
    app()
