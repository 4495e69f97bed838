"""Quarantine, then scan, then publish: what decides whether staged model files may go live.

Every import (Hub, GitHub, ZIP, cache hit) stages its files under ``_staging/<task>/``,
never listed or served. Each weights file is scanned there with ranged reads in a worker
thread; a ``model.sig`` is verified offline against the trusted keys. Under the ``strict``
policy an unsafe file, and under any policy a signature that does not verify (or a
missing one when signatures are required), refuses the model: the task fails naming the
file and the finding, and nothing is published."""

import logging

from service.domain.models import ModelFile, Signature, TaskRecord
from service.domain.scans import FileScan, ScanPolicy, ScanReport, Verdict
from service.errors import InvalidInput
from service.settings import Settings
from service.storage.models import ModelStore
from service.workers.model_signatures import SIGNATURE_FILE, SignatureError, load_trusted, verify
from service.workers.parsers.s3io import run_over_object
from service.workers.scanners import SCANNER, VERSION, format_of, scan_file

log = logging.getLogger("depot.worker")
MAX_SIGNATURE_BYTES = 1024 * 1024


class ModelRefused(InvalidInput):
    """The scan or the signature check refused a model (the task fails; nothing is published)."""


async def vet(
    models: ModelStore, settings: Settings, task: TaskRecord, mid: str, files: list[ModelFile]
) -> tuple[ScanReport | None, Signature | None]:
    """The scan report and verified signer of a staged model, or ``ModelRefused``."""
    report = None
    if settings.model_scan is not ScanPolicy.OFF:
        report = ScanReport.of(settings.model_scan, [await _scan(models, settings, task, mid, f) for f in files])
        task.scan[mid] = report
        if report.verdict is Verdict.UNSAFE:
            if settings.model_scan is ScanPolicy.STRICT:
                raise ModelRefused(f"unsafe model: {report.first_finding()}")
            log.warning("model %s is unsafe, published under the warn policy: %s", mid, report.first_finding())
    return report, await _signature(models, settings, task, mid, files)


async def _scan(models: ModelStore, settings: Settings, task: TaskRecord, mid: str, f: ModelFile) -> FileScan:
    if format_of(f.path) is None:
        return FileScan(path=f.path, format="other", verdict=Verdict.NOT_SCANNED, scanner=SCANNER, version=VERSION)
    key = models.staged_key(task.id, mid, f.path)
    try:
        return await run_over_object(
            models.reader,
            models.bucket,
            key,
            f.size,
            True,
            lambda stream: scan_file(f.path, stream, f.size),
            settings.process_timeout,
        )
    except TimeoutError:
        return FileScan(
            path=f.path,
            format=format_of(f.path) or "other",
            verdict=Verdict.UNSAFE,
            findings=[f"the scan took longer than {settings.process_timeout}s"],
            scanner=SCANNER,
            version=VERSION,
        )


async def _signature(
    models: ModelStore, settings: Settings, task: TaskRecord, mid: str, files: list[ModelFile]
) -> Signature | None:
    signed = next((f for f in files if f.path == SIGNATURE_FILE), None)
    if signed is None:
        if settings.model_require_signature:
            raise ModelRefused(f"unsigned model: no {SIGNATURE_FILE}, and DEPOT_MODEL_REQUIRE_SIGNATURE is on")
        return None
    if signed.size > MAX_SIGNATURE_BYTES:
        raise ModelRefused(f"{SIGNATURE_FILE} is larger than {MAX_SIGNATURE_BYTES} bytes")
    raw = await models.read_staged(task.id, mid, signed.path, signed.size)
    try:
        signer = verify(raw, {f.path: f.sha256 for f in files}, load_trusted(settings.model_trusted_keys))
    except (SignatureError, OSError, ValueError) as exc:
        raise ModelRefused(f"signature: {exc}") from None
    return Signature(signer=signer, file=SIGNATURE_FILE)
