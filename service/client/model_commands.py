"""Client commands for models: ``depot import hf|github|zip``, ``depot tasks``, ``depot models``.

The server has no "list my tasks" call in the contract, so every import this client starts
is remembered in ``$XDG_STATE_HOME/depot/tasks.json``; ``depot tasks`` uses the server's list
when it offers one and falls back to that file."""

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from service.client.api import DepotClient
from service.client.common import ApiKey, Config, Json, Url, Verbose, connect, fail
from service.client.errors import ClientError
from service.client.output import err, human_size, out, print_json, short_time, table

import_app = typer.Typer(help="Import a model from Hugging Face, GitHub or a local ZIP, or a Hugging Face dataset "
                              "(runs on a worker).",
                         no_args_is_help=True)
FINAL = {"DONE", "FAILED"}
Wait = Annotated[bool, typer.Option("--wait", "-w", help="show the task status live until DONE or FAILED")]
Timeout = Annotated[float, typer.Option(help="give up waiting after this many seconds")]
Revision = Annotated[str, typer.Option(help="branch, tag or commit")]


def state_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base).expanduser() / "depot" / "tasks.json"


def remember(server: str, location: str, label: str) -> None:
    """Keep the last 100 tasks per machine; losing this file loses nothing on the server."""
    path = state_file()
    try:
        known = json.loads(path.read_text()) if path.exists() else []
        known = [t for t in known if t.get("location") != location][-99:]
        known.append({"server": server, "location": location, "label": label, "started": time.time()})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1))
    except (OSError, ValueError):
        pass  # remembering is a convenience, never a reason to fail an import


def remembered(server: str) -> list[str]:
    try:
        return [t["location"] for t in json.loads(state_file().read_text()) if t.get("server") == server][::-1]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def status_of(task: dict[str, Any]) -> str:
    return str(task.get("task_status") or task.get("status") or "?").upper()


def follow(client: DepotClient, location: str, label: str, wait: bool, timeout: float, json_output: bool) -> None:
    """Print the task, or with ``wait`` poll it with a live status line until it ends."""
    remember(client.base_url, location, label)
    task = client.task(location)
    if wait:
        deadline = time.monotonic() + timeout
        delay = 0.3
        with err.status(f"{label}: {status_of(task)}") as live:
            while status_of(task) not in FINAL:
                if time.monotonic() > deadline:
                    raise ClientError(f"{label}: still {status_of(task)} after {timeout:.0f} s (task {location})")
                time.sleep(delay)
                delay = min(delay * 1.5, 3.0)
                task = client.task(location)
                live.update(f"{label}: {status_of(task)}")
    if json_output:
        print_json(task)
    else:
        state = status_of(task)
        colour = {"DONE": "green", "FAILED": "bold red"}.get(state, "yellow")
        out.print(f"{label}: [{colour}]{state}[/]  task {task.get('id', '?')}")
        if task.get("error_msg"):
            out.print(f"  error: {task['error_msg']}")
        if not wait and state not in FINAL:
            out.print(f"  follow it with: depot tasks {task.get('id', location)}")
    if wait and status_of(task) == "FAILED":
        raise typer.Exit(1)


@import_app.command("hf")
def import_hf(
    model_tag: Annotated[str, typer.Argument(help="Hugging Face model id, e.g. bert-base-uncased or org/name")],
    revision: Revision = "main", wait: Wait = False, timeout: Timeout = 3600.0,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Import a model from the Hugging Face Hub."""
    with connect(url, api_key, config, verbose) as client:
        location = client.import_huggingface(model_tag, revision)
        follow(client, location, f"{model_tag}@{revision}", wait, timeout, json_output)


@import_app.command("github")
def import_github(
    repo: Annotated[str, typer.Argument(help="OWNER/REPO on GitHub")],
    revision: Revision = "main", wait: Wait = False, timeout: Timeout = 3600.0,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Import a model from a GitHub repository (branch, tag or commit)."""
    with connect(url, api_key, config, verbose) as client:
        owner, _, name = repo.partition("/")
        if not owner or not name or "/" in name:
            fail(f"{repo!r}: expected OWNER/REPO")
        location = client.import_github(owner, name, revision)
        follow(client, location, f"{repo}@{revision}", wait, timeout, json_output)


@import_app.command("zip")
def import_zip(
    file: Annotated[Path, typer.Argument(help="a .zip whose top-level directories are models", exists=True,
                                         dir_okay=False, readable=True)],
    model_name: Annotated[str | None, typer.Option(help="name for a single-model archive")] = None,
    wait: Wait = False, timeout: Timeout = 3600.0,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Import models from a local ZIP archive (streamed up with a progress bar)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    with connect(url, api_key, config, verbose) as client:
        size = file.stat().st_size
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                            TransferSpeedColumn(), console=err, disable=not err.is_terminal, transient=True)
        with progress:
            bar = progress.add_task(file.name, total=size or 1)
            location = client.import_zip(file, size, model_name, lambda n: progress.advance(bar, n))
        follow(client, location, model_name or file.stem, wait, timeout, json_output)


def tasks(
    task_ids: Annotated[list[str] | None, typer.Argument(help="task ids (default: recent tasks)", show_default=False)] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="how many recent tasks")] = 20,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """Show import tasks and their status (PENDING, RUNNING, DONE, FAILED)."""
    with connect(url, api_key, config, verbose) as client:
        if task_ids:
            found = [client.task(t) for t in task_ids]
        else:
            try:
                found = client.tasks(limit)
            except ClientError as exc:
                if exc.status not in {404, 405}:
                    raise
                found = []
                for location in remembered(client.base_url)[:limit]:
                    try:
                        found.append(client.task(location))
                    except ClientError as gone:
                        if gone.status != 404:
                            raise
        if json_output:
            print_json(found)
            return
        if not found:
            out.print("no tasks yet (start one with: depot import hf MODEL)")
            return
        grid = table("Task", "Model", "Source", "Status", "Updated", "Error")
        for task in found:
            grid.add_row(str(task.get("id", "?")), str(task.get("model_tag", "")), str(task.get("source", "")),
                         status_of(task), short_time(task.get("updated_at")), task.get("error_msg") or "")
        out.print(grid)


def models(
    model_id: Annotated[str | None, typer.Argument(help="show one model with its files", show_default=False)] = None,
    source: Annotated[str | None, typer.Option(help="huggingface, github or local")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: Json = False, url: Url = None, api_key: ApiKey = None, config: Config = None, verbose: Verbose = False,
) -> None:
    """List imported models, or show one model's files."""
    with connect(url, api_key, config, verbose) as client:
        if model_id:
            model = client.model(model_id)
            if json_output:
                print_json(model)
                return
            out.print(f"[bold]{model.get('id', model_id)}[/]  source {model.get('source', '?')}  revision "
                      f"{model.get('revision', '?')}  commit {model.get('resolved_commit') or model.get('commit') or '-'}")
            grid = table("File", "Size", "SHA-256")
            for entry in model.get("files") or []:
                grid.add_row(entry.get("path") or entry.get("name", "?"), human_size(entry.get("size")),
                             (entry.get("sha256") or entry.get("hash") or "")[:16])
            out.print(grid)
            return
        listing = client.models(source, limit, offset)
        if json_output:
            print_json(listing)
            return
        items = listing if isinstance(listing, list) else listing.get("models") or listing.get("items") or []
        if not items:
            out.print("no models yet")
            return
        grid = table("Model", "Source", "Revision", "Files", "Size", "Imported at")
        for model in items:
            files = model.get("files") or []
            size = model.get("size", model.get("total_size", sum(f.get("size", 0) for f in files)))
            grid.add_row(str(model.get("id", "?")), str(model.get("source", "")), str(model.get("revision", "")),
                         str(model.get("file_count", len(files))), human_size(size), short_time(model.get("imported_at")))
        out.print(grid)


def register(app: typer.Typer) -> None:
    from service.client.dataset_commands import register as register_datasets

    register_datasets(import_app)
    app.add_typer(import_app, name="import", rich_help_panel="Client")
    app.command(rich_help_panel="Client")(tasks)
    app.command(rich_help_panel="Client")(models)
