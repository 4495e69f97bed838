"""Terminal output shared by the commands: sizes, tables, JSON, and the one-line error."""

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


def human_size(size: int | float | None) -> str:
    """1536 -> '1.5 KiB' (binary units, like ``ls -h``)."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


def short_time(stamp: str | None) -> str:
    """'2026-01-12T23:45:00.123456Z' -> '2026-01-12 23:45:00'."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ")[:19]


def print_json(value: Any) -> None:
    """Plain JSON on stdout, for scripts and ``jq`` (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def table(*columns: str, title: str | None = None, **options: Any) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold", **options)
    for name in columns:
        right = name.lower() in {"size", "count", "files", "bytes"}
        grid.add_column(name, justify="right" if right else "left", overflow="fold")
    return grid


def files_table(files: list[dict[str, Any]], title: str | None = None) -> Table:
    grid = table("Path", "Size", "SHA-256", "Uploaded at", "Status", "Description", title=title)
    for entry in files:
        grid.add_row(
            entry["path"], human_size(entry.get("size")), (entry.get("hash") or "")[:12],
            short_time(entry.get("uploaded_at")), entry.get("status") or "-", entry.get("description") or "",
        )
    return grid


def print_error(message: str, detail: str | None = None, verbose: bool = False) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if verbose and detail:
        err.print(detail, markup=False)
