"""Bulk upload: expand paths, hash, skip what the server already has, upload concurrently.

Resume works by content: every local file is hashed (streamed) and compared with the
SHA-256 of the files the server lists for the same purpose, so an interrupted run re-run
with the same arguments uploads only what is missing, whatever the file names became.
Files over the tus threshold also resume mid-file (``service.client.tus``). That first hash
is also the ``Repr-Digest`` every upload declares, and the stored file's SHA-256 is checked
against it."""

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
from service.client.integrity import verify
from service.client.multipart import Cancelled, RateLimiter
from service.client.output import err, human_size
from service.client.resume import ResumeStore
from service.client.tus import Sent, TusOptions, TusSender

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
    transport: str | None = None  # post | tus
    resumed_from: int | None = None  # tus: the server's offset this run began at
    retries: int = 0  # tus: failed requests retried (cut connections, timeouts, 5xx)

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
                 limit_rate: int | None, show_progress: bool, tus: TusOptions | None = None,
                 records: ResumeStore | None = None) -> None:
        self.client = client
        self.fields = fields
        self.jobs = max(1, jobs)
        self.force = force
        self.limiter = RateLimiter(limit_rate) if limit_rate else None
        self.cancelled = threading.Event()
        self.tus_options = tus or TusOptions()
        self.tus = TusSender(client, records or ResumeStore(), self.tus_options, self.cancelled, self.limiter)
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
        meter = FileBar(self.progress, total, label, size)
        try:
            if self.cancelled.is_set():
                return Outcome(label, "cancelled", size)
            outcome.transport = self.transport(size)
            key = self.tus.record_key(path, size, path.stat().st_mtime_ns)
            # An unfinished tus upload of this very file (same size and mtime) keeps its hash: a
            # resumed file is read once, not hashed in full and then read again.
            known = self.tus.known_sha256(key, size) if outcome.transport == "tus" else None
            outcome.sha256 = known or sha256_of(path, self.cancelled)
            with self.known_lock:
                existing = self.known.get(outcome.sha256)
            if existing is not None:
                if known:  # its last PATCH went through before the previous run could record that
                    self.tus.records.remove(key)
                self.progress.advance(total, size)
                outcome.status, outcome.path = "skipped", existing
                return outcome
            sent = self.send(path, size, outcome.sha256, key, meter)
            outcome.resumed_from, outcome.retries = sent.resumed_from, sent.retries
            verify(outcome.sha256, sent.file.get("hash"), label)
            with self.known_lock:
                self.known.setdefault(outcome.sha256, sent.file["path"])
            outcome.status, outcome.path = "uploaded", sent.file["path"]
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
            meter.close(full=outcome.status in {"failed", "cancelled"})
        return outcome

    def transport(self, size: int) -> str:
        """How a file travels: the one place to add another way (``send`` dispatches on it)."""
        return "tus" if size > self.tus_options.threshold else "post"

    def send(self, path: Path, size: int, sha256: str, key: str, meter: "FileBar") -> Sent:
        """Upload one file the way ``transport`` chose; both ways declare its SHA-256 (Repr-Digest)."""
        if self.transport(size) == "tus":
            return self.tus.send(path, size, sha256, self.fields, key, meter)
        meter.start(0)
        file = self.client.upload(path, size, self.fields, meter.advance, self.cancelled, self.limiter, sha256)
        return Sent(file, None, 0)


class FileBar:
    """One file's progress bar, created at the offset the upload starts from (a resumed tus upload
    starts part-way), and its share of the total bar, which moves back if bytes must be re-sent."""

    def __init__(self, progress: Progress, total: TaskID, label: str, size: int) -> None:
        self.progress, self.total, self.label, self.size = progress, total, label, size
        self.bar: TaskID | None = None
        self.shown = 0

    def start(self, offset: int) -> None:
        if offset:
            self.progress.console.print(f"resuming {self.label} at {human_size(offset)} of {human_size(self.size)} "
                                        f"({offset} bytes already on the server)")
        self.bar = self.progress.add_task(shorten(self.label), total=self.size or 1, completed=offset)
        self.progress.advance(self.total, offset)
        self.shown = offset

    def at(self, position: int) -> None:
        if self.bar is not None:
            self.progress.update(self.bar, completed=position)
        self.progress.advance(self.total, position - self.shown)
        self.shown = position

    def advance(self, count: int) -> None:
        self.at(self.shown + count)

    def close(self, full: bool) -> None:
        if self.bar is not None:
            self.progress.remove_task(self.bar)
        if full:
            self.progress.advance(self.total, self.size - self.shown)  # the total bar still ends full


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
