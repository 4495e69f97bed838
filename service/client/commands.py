"""Client commands for data files: upload, ls, get, info, rm, stats (registered on the ``depot`` app)."""

import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from service.client.common import ApiKey, Config, Json, Url, Verbose, connect, fail
from service.client.direct import DirectClient, offer
from service.client.errors import ClientError
from service.client.integrity import announced_sha256, verify
from service.client.output import err, files_table, human_size, out, print_json, short_time, table
from service.client.tus import TusOptions
from service.client.uploader import BulkUpload, Interrupted, Outcome, expand, labels_for

PURPOSES = ("training", "ingestion")
CATEGORIES = ("data", "text", "audio", "archive", "image")
SHOWN_ROWS = 50
MIN_CHUNK, MAX_CHUNK = 64 * 1024, 1024**3  # a tus chunk is held in memory once per concurrent file


def parse_size(value: str, flag: str, what: str = "bytes") -> int:
    """'500K', '2M', '1GiB' or plain bytes (binary units)."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    try:
        number = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise ClientError(f"{flag} {value!r}: use {what} like 500K, 2M or 1G") from None
    if number < 0 or number != number:
        raise ClientError(f"{flag} must not be negative")
    return int(number)


def parse_rate(value: str | None) -> int | None:
    """'500K', '2M', '1G' or plain bytes per second."""
    if not value:
        return None
    number = parse_size(value, "--limit-rate", "bytes per second")
    if number <= 0:
        raise ClientError("--limit-rate must be positive")
    return number


def tus_options(threshold: str, chunk_size: str, retries: int = 5) -> TusOptions:
    chunk = parse_size(chunk_size, "--chunk-size")
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        raise ClientError(f"--chunk-size must be between {human_size(MIN_CHUNK)} and {human_size(MAX_CHUNK)}")
    return TusOptions(threshold=parse_size(threshold, "--tus-threshold"), chunk_size=chunk, retries=retries)


def choice(value: str | None, allowed: tuple[str, ...], flag: str) -> str | None:
    if value and value not in allowed:
        fail(f"{flag} {value!r}: one of {', '.join(allowed)}")
    return value or None


def summary(outcomes: list[Outcome], seconds: float) -> None:
    """The table after a run: every failure, and the first rows of the rest."""
    grid = table("File", "Status", "Size", "Stored as / error", title="Upload summary")
    style = {"uploaded": "green", "skipped": "cyan", "failed": "bold red", "cancelled": "yellow"}
    ordered = sorted(outcomes, key=lambda o: o.status not in {"failed", "cancelled"})
    for row in ordered[:SHOWN_ROWS] + [o for o in ordered[SHOWN_ROWS:] if o.status == "failed"]:
        grid.add_row(row.file, f"[{style[row.status]}]{row.status}[/]", human_size(row.size),
                     row.error or row.path or "")
    out.print(grid)
    hidden = len(outcomes) - len(grid.rows)
    if hidden > 0:
        out.print(f"… and {hidden} more (use --json for all)")
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in style}
    sent = sum(o.size for o in outcomes if o.status == "uploaded")
    rate = f", {human_size(sent / seconds)}/s" if seconds > 0 and sent else ""
    out.print(
        f"{counts['uploaded']} uploaded, {counts['skipped']} skipped (already on the server), "
        f"{counts['failed']} failed" + (f", {counts['cancelled']} cancelled" if counts["cancelled"] else "")
        + f" — {human_size(sent)} in {seconds:.1f} s{rate}"
    )


def upload(
    paths: Annotated[list[Path], typer.Argument(help="files and directories to upload", show_default=False)],
    purpose: Annotated[str, typer.Option(help="training or ingestion")] = "ingestion",
    category: Annotated[str | None, typer.Option(help="data, text, audio, archive or image (default: from the extension)")] = None,
    description: Annotated[str | None, typer.Option(help="description stored with every file")] = None,
    metadata: Annotated[str | None, typer.Option(help='JSON object stored with every file, e.g. \'{"source":"lab"}\'')] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="descend into subdirectories")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, help="files uploaded at once")] = 4,
    force: Annotated[bool, typer.Option("--force", help="upload even when the server has the same SHA-256")] = False,
    limit_rate: Annotated[str | None, typer.Option(help="total bandwidth cap, e.g. 2M (bytes/s)")] = None,
    tus_threshold: Annotated[str, typer.Option(
        envvar="DEPOT_TUS_THRESHOLD", help="files larger than this go over tus (resumable), e.g. 32M")] = "32M",
    chunk_size: Annotated[str, typer.Option(
        envvar="DEPOT_TUS_CHUNK_SIZE", help="bytes per tus PATCH, e.g. 8M (held in memory per file)")] = "8M",
    retries: Annotated[int, typer.Option(
        min=0, max=100, help="tus: failed requests retried in a row, with backoff, before a file fails")] = 5,
    direct: Annotated[bool, typer.Option("--direct", help="send the bytes straight to S3 with presigned URLs "
                                         "(when the server offers direct transfers)")] = False,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Upload files and directories concurrently, with progress bars and a summary.

    A re-run skips files the server already has with the same SHA-256 for this purpose, so an
    interrupted bulk upload resumes where it stopped; files over --tus-threshold resume mid-file
    from the server's offset. Every file's SHA-256 is declared and checked. Exits 1 if any file failed."""
    with connect(url, api_key, config, verbose) as client:
        choice(purpose, PURPOSES, "--purpose")
        choice(category, CATEGORIES, "--category")
        fields = {"purpose": purpose}
        if category:
            fields["category"] = category
        if description:
            fields["description"] = description
        if metadata:
            try:
                parsed = json.loads(metadata)
                if not isinstance(parsed, dict):
                    fail("--metadata must be a JSON object")
                fields["metadata"] = json.dumps(parsed, ensure_ascii=False, allow_nan=False)  # NaN, 1e999: 400 anyway
            except ValueError as exc:
                raise ClientError(f"--metadata is not valid JSON: {exc}") from None
        files, problems = expand(paths, recursive)
        if not files and not problems:
            fail("no files to upload (a directory's subdirectories need --recursive)")
        tus = tus_options(tus_threshold, chunk_size, retries)
        if direct:  # only ``upload`` changes: straight to S3, whatever the size (never over tus)
            client, tus = DirectClient(client, offer(client)), dataclasses.replace(tus, threshold=sys.maxsize)
        run = BulkUpload(client, fields, jobs, force, parse_rate(limit_rate),
                         show_progress=not json_output and err.is_terminal, tus=tus)
        started = time.monotonic()
        try:
            outcomes = problems + run.run(files, labels_for(files, paths))
            code = 1 if any(o.status == "failed" for o in outcomes) else 0
        except Interrupted as stop:
            outcomes, code = problems + stop.outcomes, 130
        if json_output:
            print_json({"results": [o.as_dict() for o in outcomes], "exit_code": code})
        else:
            summary(outcomes, time.monotonic() - started)
        if code == 130:
            err.print("interrupted: run the same command again to upload the rest")
        raise typer.Exit(code)


def ls(
    purpose: Annotated[str | None, typer.Option(help="training or ingestion")] = None,
    category: Annotated[str | None, typer.Option(help="data, text, audio, archive or image")] = None,
    status: Annotated[str | None, typer.Option(help="processing status, e.g. pending, done, failed")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="files per page")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="files to skip")] = 0,
    page: Annotated[int | None, typer.Option(min=1, help="page number (sets --offset)")] = None,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """List stored files, newest first."""
    with connect(url, api_key, config, verbose) as client:
        choice(purpose, PURPOSES, "--purpose")
        choice(category, CATEGORIES, "--category")
        if page is not None:
            offset = (page - 1) * limit
        listing = client.list_files(purpose, category, status, limit, offset)
        if json_output:
            print_json(listing)
            return
        files = listing["files"]
        if not files:
            out.print("no files" + (" on this page" if offset else ""))
            return
        out.print(files_table(files))
        last = offset + len(files)
        more = f"; next: --offset {last}" if last < listing["total"] else ""
        out.print(f"{offset + 1}–{last} of {listing['total']}{more}")


def get(
    path: Annotated[str, typer.Argument(help="purpose/category/saved_name, as `depot ls` shows")],
    output: Annotated[str | None, typer.Option("--output", "-o", help="file or directory to write, - for stdout (default: the saved name)")] = None,
    url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Download a file with a progress bar and check its SHA-256 (the server's Repr-Digest)."""
    with connect(url, api_key, config, verbose) as client:
        with client.download(path) as response:
            expected = announced_sha256(response.headers)
            size = int(response.headers.get("content-length") or 0) or None
            target = None if output == "-" else Path(output or Path(path).name)
            if target is not None and target.is_dir():
                target = target / Path(path).name
            digest = hashlib.sha256()
            partial = target.with_name(f".{target.name}.part") if target else None
            sink = partial.open("wb") if partial else sys.stdout.buffer
            progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                                TransferSpeedColumn(), TimeRemainingColumn(), console=err, disable=not err.is_terminal)
            try:
                with progress, client.transport_errors():
                    bar = progress.add_task(Path(path).name, total=size)
                    for chunk in response.iter_bytes(1024 * 1024):
                        sink.write(chunk)
                        digest.update(chunk)
                        progress.advance(bar, len(chunk))
                if expected is not None:  # as before: a server (or proxy) that names no hash is not checked
                    verify(digest.hexdigest(), expected, f"download of {path}")
            except BaseException:
                if partial:
                    sink.close()
                    partial.unlink(missing_ok=True)
                raise
            if partial:
                sink.close()
                os.replace(partial, target)
                err.print(f"saved {target} ({human_size(target.stat().st_size)}, sha256 {digest.hexdigest()[:12]}…)")


def info(
    path: Annotated[str, typer.Argument(help="purpose/category/saved_name")],
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Show a file's metadata (hash, size, description, your metadata, processing status)."""
    with connect(url, api_key, config, verbose) as client:
        meta = client.metadata(path)
        if json_output:
            print_json(meta)
            return
        grid = table("Field", "Value", show_header=False)
        for key, value in meta.items():
            if key == "size":
                value = f"{human_size(value)} ({value} bytes)"
            elif key == "uploaded_at":
                value = short_time(value) + " UTC"
            elif isinstance(value, dict | list):
                value = json.dumps(value, ensure_ascii=False, indent=1) if value else "-"
            grid.add_row(key, "-" if value is None else str(value))
        out.print(grid)


def rm(
    paths: Annotated[list[str], typer.Argument(help="one or more purpose/category/saved_name")],
    url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Delete files (the object, its manifest and its index entry)."""
    with connect(url, api_key, config, verbose) as client:
        for path in paths:
            client.delete(path)
            out.print(f"deleted {path}")


def stats(
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Show file counts and sizes by purpose and category."""
    with connect(url, api_key, config, verbose) as client:
        numbers = client.stats()
        if json_output:
            print_json(numbers)
            return
        grid = table("Purpose", "Category", "Files", "Size", title="Stored data")
        for purpose, group in sorted(numbers["by_purpose"].items()):
            for category, cell in sorted(group["by_category"].items()):
                grid.add_row(purpose, category, str(cell["count"]), human_size(cell["size"]))
            grid.add_row(f"[bold]{purpose}[/]", "[bold]all[/]", f"[bold]{group['count']}[/]",
                         f"[bold]{human_size(group['size'])}[/]", end_section=True)
        grid.add_row("[bold]total[/]", "", f"[bold]{numbers['total_files']}[/]",
                     f"[bold]{human_size(numbers['total_size'])}[/]")
        out.print(grid)


def register(app: typer.Typer) -> None:
    """Add the client commands to the ``depot`` app (server commands live in service/cli.py)."""
    for command in (upload, ls, get, info, rm, stats):
        app.command(rich_help_panel="Client")(command)
    from service.client.model_commands import register as register_models

    register_models(app)
