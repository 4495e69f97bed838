"""Which failures of an import are retried (and after how long), and which fail it at once.

The importers are replaced by functions that raise; the store is a small in-memory stand-in,
since the point is the classification in ``model_imports.run``, not S3 (the integration tests
run the same code against SeaweedFS, with real upstream faults)."""

import asyncio
from types import SimpleNamespace

import pytest
from arq import Retry

from service.domain.models import Source, TaskRecord, TaskStatus
from service.errors import DependencyDown, NotFound
from service.settings import Settings
from service.upstreams.base import Transient
from service.workers import model_imports


class MemoryModels:
    def __init__(self, task: TaskRecord, fail_reads: bool = False) -> None:
        self.tasks = {task.id: task.model_copy()}
        self.released: list[str] = []
        self.discarded: list[str] = []
        self.fail_reads = fail_reads
        self.bucket = "models"
        self.objects = self

    async def get_task(self, task_id: str) -> TaskRecord:
        if self.fail_reads:
            raise DependencyDown("read task: index unavailable")
        return self.tasks[task_id].model_copy()

    async def save_task(self, task: TaskRecord) -> None:
        self.tasks[task.id] = task.model_copy()

    async def find_manifest(self, mid: str):
        return None

    async def discard_files(self, mid: str) -> None:
        self.discarded.append(mid)

    async def discard_staging(self, task_id: str, mid: str) -> None:
        pass

    async def release(self, mids: list[str], task_id: str) -> None:
        self.released += mids

    async def delete(self, bucket: str, keys: list[str]) -> None:
        pass


def task() -> TaskRecord:
    return TaskRecord(id="a" * 32, model_tag="acme/m@main", source=Source.HUGGINGFACE, created_at="x",
                      updated_at="x", revision="main", model_ids=["huggingface/acme/m@main"])


def run(monkeypatch, error: Exception, job_try: int, fail_reads: bool = False) -> tuple[MemoryModels, object]:
    async def importer(ctx, record):
        raise error

    monkeypatch.setitem(model_imports.IMPORTERS, Source.HUGGINGFACE, importer)
    models = MemoryModels(task(), fail_reads)
    clients = SimpleNamespace(models=models, settings=Settings(model_retry_delay=2.0), emitter=None)
    ctx = {"clients": clients, "job_try": job_try}
    try:
        outcome = asyncio.run(model_imports.run(ctx, "a" * 32))
    except Retry as retry:
        outcome = retry
    return models, outcome


@pytest.mark.parametrize("error", [Transient("upstream answered 502"), DependencyDown("storage unavailable"),
                                   TimeoutError()])
def test_transient_faults_retry_with_doubling_delay(monkeypatch, error):
    for job_try, delay_ms in ((1, 2000), (2, 4000)):
        models, outcome = run(monkeypatch, error, job_try)
        assert isinstance(outcome, Retry) and outcome.defer_score == delay_ms
        assert models.tasks["a" * 32].task_status is TaskStatus.PENDING
        assert "retrying" in models.tasks["a" * 32].error_msg
        assert models.released == []


def test_transient_fault_on_the_last_try_fails(monkeypatch):
    models, outcome = run(monkeypatch, Transient("upstream answered 503"), 3)
    record = models.tasks["a" * 32]
    assert outcome == "FAILED" and record.task_status is TaskStatus.FAILED
    assert record.error_msg == "gave up after 3 tries: upstream answered 503"
    assert models.released == ["huggingface/acme/m@main"] == models.discarded


@pytest.mark.parametrize("error,message", [(NotFound("file not found upstream"), "file not found upstream"),
                                           (KeyError("x"), "internal error (KeyError)")])
def test_permanent_faults_fail_at_once(monkeypatch, error, message):
    models, outcome = run(monkeypatch, error, 1)
    record = models.tasks["a" * 32]
    assert outcome == "FAILED" and record.task_status is TaskStatus.FAILED and record.error_msg == message
    assert record.attempts == 1 and models.released == ["huggingface/acme/m@main"]


def test_our_own_records_unreachable_is_retried(monkeypatch):
    _, outcome = run(monkeypatch, NotFound("unused"), 1, fail_reads=True)
    assert isinstance(outcome, Retry) and outcome.defer_score == 2000
