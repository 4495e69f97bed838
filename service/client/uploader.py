"""Bulk upload: expand paths, hash, skip what the server already has, upload concurrently.

Resume works by content: every local file is hashed (streamed) and compared with the
SHA-256 of the files the server lists for the same purpose, so an interrupted run re-run
with the same arguments uploads only what is missing, whatever the file names became."""

import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from service.client.api import DepotClient
from service.client.errors import ClientError
from service.client.multipart import Cancelled, RateLimiter
from service.client.output import err

HASH_CHUNK = 1024 * 1024


@dataclass
class Outcome:
    """What happened to one local file; the summary table and ``--json`` show these."""

    file: str
    status: str  # uploaded | skipped | failed | cancelled
    size: int = 0
    sha256: str | None = None
    path: str | None = None  # where it is stored on the server
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def expand(paths: list[Path], recursive: bool) -> tuple[list[Path], list[Outcome]]:
    """Files named directly, plus the files of named directories (nested ones with
    ``recursive``). Hidden files inside directories are left out, as ``.DS_Store`` should be."""
    found: list[Path] = []
    problems: list[Outcome] = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            walker = path.rglob("*") if recursive else path.glob("*")
            found.extend(sorted(
                p for p in walker
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            ))
        else:
            problems.append(Outcome(str(path), "failed", error="no such file or directory"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, problems


def sha256_of(path: Path, cancelled: threading.Event) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            if cancelled.is_set():
                raise Cancelled()
            digest.update(chunk)
    return digest.hexdigest()


class BulkUpload:
    """One ``depot upload`` run: a thread pool sharing one client, one progress display."""

    def __init__(self, client: DepotClient, fields: dict[str, str], jobs: int, force: bool,
                 limit_rate: int | None, show_progress: bool) -> None:
        self.client = client
        self.fields = fields
        self.jobs = max(1, jobs)
        self.force = force
        self.limiter = RateLimiter(limit_rate) if limit_rate else None
        self.cancelled = threading.Event()
        self.known: dict[str, str] = {}
        self.known_lock = threading.Lock()
        self.progress = Progress(
            TextColumn("[bold]{task.description}", table_column=None),
            BarColumn(bar_width=None), DownloadColumn(binary_units=True), TransferSpeedColumn(),
            TimeRemainingColumn(), console=err, transient=False, disable=not show_progress, expand=True,
        )

    def load_known(self) -> None:
        """The server's hashes for this purpose (and category, when one is given)."""
        if self.force:
            return
        for entry in self.client.iter_files(self.fields.get("purpose"), self.fields.get("category")):
            self.known.setdefault(entry["hash"], entry["path"])

    def run(self, files: list[Path], labels: dict[Path, str]) -> list[Outcome]:
        sizes = {path: path.stat().st_size for path in files}
        self.load_known()
        outcomes: list[Outcome] = []
        with self.progress:
            total = self.progress.add_task(f"total ({len(files)} files)", total=sum(sizes.values()) or 1)
            if not files:
                self.progress.update(total, completed=1)
            pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="upload")
            pending: set[Future] = {pool.submit(self.one, p, labels[p], sizes[p], total) for p in files}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    outcomes.extend(f.result() for f in done)
            except KeyboardInterrupt:
                self.cancelled.set()
                pool.shutdown(wait=True, cancel_futures=True)
                outcomes.extend(f.result() for f in pending if f.done() and not f.cancelled())
                finished = {o.file for o in outcomes}
                outcomes.extend(Outcome(labels[p], "cancelled", sizes[p]) for p in files if labels[p] not in finished)
                raise Interrupted(outcomes) from None
            pool.shutdown(wait=True)
        order = {labels[p]: i for i, p in enumerate(files)}
        return sorted(outcomes, key=lambda o: order.get(o.file, -1))

    def one(self, path: Path, label: str, size: int, total: TaskID) -> Outcome:
        """Hash, skip or upload one file; never raises (the outcome carries the error)."""
        started = time.monotonic()
        outcome = Outcome(label, "failed", size)
        bar: TaskID | None = None
        sent_bytes = 0
        try:
            if self.cancelled.is_set():
                return Outcome(label, "cancelled", size)
            outcome.sha256 = sha256_of(path, self.cancelled)
            with self.known_lock:
                existing = self.known.get(outcome.sha256)
            if existing is not None:
                self.progress.advance(total, size)
                outcome.status, outcome.path = "skipped", existing
                return outcome
            bar = self.progress.add_task(shorten(label), total=size or 1)

            def sent(count: int) -> None:
                nonlocal sent_bytes
                sent_bytes += count
                self.progress.advance(bar, count)
                self.progress.advance(total, count)

            stored = self.client.upload(path, size, self.fields, sent, self.cancelled, self.limiter)
            with self.known_lock:
                self.known.setdefault(outcome.sha256, stored["path"])
            outcome.status, outcome.path = "uploaded", stored["path"]
        except Cancelled:
            outcome.status = "cancelled"
        except ClientError as exc:
            if self.cancelled.is_set():
                outcome.status = "cancelled"
            elif exc.status == 409 and "exist" in exc.message:
                outcome.status, outcome.error = "skipped", exc.message  # server-side duplicate policy
            else:
                outcome.error = exc.message
        except OSError as exc:
            outcome.error = f"cannot read: {exc.strerror or exc}"
        finally:
            outcome.seconds = round(time.monotonic() - started, 3)
            if bar is not None:
                self.progress.remove_task(bar)
            if outcome.status in {"failed", "cancelled"}:
                self.progress.advance(total, size - sent_bytes)  # the total bar still ends full
        return outcome


class Interrupted(Exception):
    """Ctrl+C during a run; carries what finished so the summary can still be printed."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        super().__init__("interrupted")
        self.outcomes = outcomes


def shorten(label: str, width: int = 32) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1):]


def labels_for(files: list[Path], roots: list[Path]) -> dict[Path, str]:
    """Show each file relative to the argument it came from (``voices/a.wav``), else its name."""
    resolved = [r.resolve() for r in roots]
    labels: dict[Path, str] = {}
    for path in files:
        label = path.name
        for root in resolved:
            if root.is_dir() and path.is_relative_to(root):
                label = str(Path(root.name) / path.relative_to(root))
                break
        labels[path] = label
    return labels


def iter_failed(outcomes: list[Outcome]) -> Iterator[Outcome]:
    return (o for o in outcomes if o.status in {"failed", "cancelled"})
