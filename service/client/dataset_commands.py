"""``depot import dataset REPO_ID``: import a Hugging Face dataset's files as data uploads."""

from typing import Annotated

import typer

from service.client.api import DATA
from service.client.common import ApiKey, Config, Json, Url, Verbose, connect
from service.client.model_commands import Revision, Timeout, Wait, follow
from service.client.output import out


def import_dataset(
    repo_id: Annotated[str, typer.Argument(help="Hugging Face dataset id, e.g. org/name")],
    purpose: Annotated[str, typer.Option(help="training or ingestion")] = "training",
    category: Annotated[str | None, typer.Option(help="only files of this category (others are skipped)")] = None,
    allow: Annotated[list[str] | None, typer.Option("--allow", help="glob of Hub paths to import (repeatable)")] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", help="glob of Hub paths to leave (repeatable)")
    ] = None,
    revision: Revision = "main",
    wait: Wait = False,
    timeout: Timeout = 3600.0,
    json_output: Json = False,
    url: Url = None,
    api_key: ApiKey = None,
    config: Config = None,
    verbose: Verbose = False,
) -> None:
    """Import a dataset from the Hugging Face Hub: each file is stored like an upload and parsed."""
    body = {
        "repo_id": repo_id,
        "revision": revision,
        "purpose": purpose,
        "category": category,
        "allow_patterns": allow or None,
        "ignore_patterns": ignore or None,
    }
    with connect(url, api_key, config, verbose) as client:
        response = client.request(
            "POST", f"{DATA}/import/huggingface", json={k: v for k, v in body.items() if v is not None}
        )
        location = client.location(response)
        follow(client, location, f"datasets/{repo_id}@{revision}", wait, timeout, json_output)
        report = client.task(location).get("report") if wait and not json_output else None
        if report:
            out.print(
                f"  files stored: {report['files_stored']}, skipped: {report['files_skipped']}, "
                f"failed: {report['files_failed']}"
            )
            for entry in report["skipped"]:
                out.print(f"  skipped {entry['hub_path']}: {entry['reason']}")
            for entry in report["failed"]:
                out.print(f"  failed {entry['hub_path']}: {entry['error']}")


def register(import_app: typer.Typer) -> None:
    import_app.command("dataset")(import_dataset)
