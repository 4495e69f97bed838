"""Imported models: valid names, the key layout in the models bucket, task and model records.

Pure code. A model's id is ``<source>/<name>@<revision>``; its files live under that
prefix and its manifest beside it (``<id>.meta.json``), like data files. Revisions may
contain ``/`` (``refs/pr/1``); ids write it as ``~``, which git forbids in ref names."""

import fnmatch
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from service.domain.naming import MANIFEST_SUFFIX
from service.domain.scans import ScanReport
from service.errors import InvalidInput

TASKS_PREFIX = "_tasks/"
UPLOADS_PREFIX = "_uploads/"
CACHE_PREFIX = "_cache/"
STAGING_PREFIX = "_staging/"  # quarantine: an import's files until the scan passes (never listed)

# Every name is checked with ``fullmatch``: ``match`` with ``$`` lets a trailing newline through
# ("main\n"), which then reached upstream URLs (a 500) and S3 keys.
_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
_HF_REPO = re.compile(rf"(?:{_PART}/)?{_PART}")
_GH_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?")
_GH_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_REVISION = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")
_LOCAL_NAME = re.compile(_PART)
_TASK_ID = re.compile(r"[0-9a-f]{32}")
_COMMIT = re.compile(r"[0-9a-f]{40}")

WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack", "*.onnx", "*.gguf")
HF_REQUIREMENTS: list[list[str]] = [["config.json"], list(WEIGHT_PATTERNS)]


class Source(StrEnum):
    HUGGINGFACE = "HUGGINGFACE"
    GITHUB = "GITHUB"
    LOCAL = "LOCAL"

    @property
    def prefix(self) -> str:
        """The lower-case first segment of keys and ids."""
        return self.value.lower()


class TaskStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAILED = "FAILED"


def _no_dots(value: str, what: str) -> str:
    if ".." in value:
        raise InvalidInput(f"invalid {what}: '..' is not allowed")
    return value


def check_hf_repo(value: str) -> str:
    if not _HF_REPO.fullmatch(value or "") or "--" in value:
        raise InvalidInput("invalid model_tag: expected 'name' or 'owner/name' (letters, digits, '.', '_', '-')")
    return _no_dots(value, "model_tag")


def check_github(owner: str, repo: str) -> str:
    if not _GH_OWNER.fullmatch(owner or ""):
        raise InvalidInput("invalid owner: letters, digits and single '-' only")
    if not _GH_REPO.fullmatch(repo or "") or repo in (".", ".."):
        raise InvalidInput("invalid repo_name: letters, digits, '.', '_', '-' only")
    return f"{owner}/{_no_dots(repo, 'repo_name')}"


def check_revision(value: str) -> str:
    if not value or len(value) > 200 or not _REVISION.fullmatch(value) or value.endswith(".lock"):
        raise InvalidInput("invalid revision: a branch, tag or commit sha is expected")
    return _no_dots(value, "revision")


def check_local_name(value: str) -> str:
    if not _LOCAL_NAME.fullmatch(value or ""):
        raise InvalidInput("invalid model name: letters, digits, '.', '_', '-' (at most 96), "
                           "starting with a letter or digit")
    return _no_dots(value, "model name")


def is_task_id(value: str) -> bool:
    return bool(_TASK_ID.fullmatch(value))


def is_commit(value: str) -> bool:
    return bool(_COMMIT.fullmatch(value))


def model_id(source: Source, name: str, revision: str) -> str:
    """``huggingface/org/bert@main``: the registry id and the key prefix of the files."""
    return f"{source.prefix}/{name}@{revision.replace('/', '~')}"


def parse_model_id(value: str) -> tuple[Source, str, str]:
    """The inverse of ``model_id``; a 404-worthy ``InvalidInput`` when it cannot be one."""
    head, _, revision = value.strip("/").rpartition("@")
    source_name, _, name = head.partition("/")
    try:
        source = Source(source_name.upper())
    except ValueError:
        raise InvalidInput("not a model id") from None
    revision = revision.replace("~", "/")
    if source is Source.HUGGINGFACE:
        check_hf_repo(name)
    elif source is Source.GITHUB:
        check_github(*(name.split("/", 1) + [""])[:2])
    else:
        check_local_name(name)
    return source, name, check_revision(revision)


def files_prefix(mid: str) -> str:
    return f"{mid}/"


def staging_prefix(task_id: str, mid: str) -> str:
    """Where one task writes a model's files before the scan: ``_staging/<task>/<model id>/``."""
    return f"{STAGING_PREFIX}{task_id}/{files_prefix(mid)}"


def manifest_key(mid: str) -> str:
    return f"{mid}{MANIFEST_SUFFIX}"


def task_key(task_id: str) -> str:
    return f"{TASKS_PREFIX}{task_id}.json"


def upload_key(task_id: str) -> str:
    return f"{UPLOADS_PREFIX}{task_id}.zip"


def check_member_path(path: str) -> str:
    """A file path inside a model: relative, '/'-separated, no '..', no empty segments."""
    parts = path.split("/")
    if (not path or path.startswith("/") or "\\" in path or re.match(r"^[A-Za-z]:", path)
            or any(p in ("", ".", "..") for p in parts) or any(ord(c) < 32 for c in path)):
        raise InvalidInput(f"unsafe path in model: {path!r}")
    return path


def parse_requirements(spec: str) -> list[list[str]]:
    """``a;b,c`` → ``[[a], [b, c]]``: every group needs one match."""
    return [[alt.strip() for alt in group.split(",") if alt.strip()] for group in spec.split(";") if group.strip()]


def missing_requirements(paths: list[str], requirements: list[list[str]]) -> list[str]:
    """The requirement groups no file satisfies (matched on the file's base name)."""
    names = {p.rsplit("/", 1)[-1] for p in paths}
    return [
        " or ".join(group) for group in requirements
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in group)
    ]


class TaskRecord(BaseModel):
    """One import: what ``GET /v1/upload/tasks/{id}`` returns (the contract's fields first)."""

    id: str
    model_tag: str
    task_status: TaskStatus = TaskStatus.PENDING
    source: Source
    error_msg: str | None = None
    created_at: str
    updated_at: str
    revision: str
    model_ids: list[str] = Field(default_factory=list, description="registry ids this task creates")
    resolved_commit: str | None = None
    attempts: int = 0
    kind: str = Field("model", description="what the task imports: model or dataset")
    report: dict[str, Any] | None = Field(None, description="a dataset import's files: stored, skipped, failed")
    details: dict[str, Any] = Field(default_factory=dict, description="source-specific job input")
    scan: dict[str, ScanReport] = Field(default_factory=dict, description="scan report per model id")


class ModelFile(BaseModel):
    path: str
    size: int
    sha256: str


class Signature(BaseModel):
    """A verified OpenSSF model signature: who signed (a key fingerprint or certificate subject)."""

    signer: str
    file: str


class ModelManifest(BaseModel):
    """The registry's truth for one model, stored beside its files."""

    id: str
    source: Source
    name: str
    revision: str
    resolved_commit: str | None = None
    files: list[ModelFile]
    size: int
    imported_at: str
    task_id: str
    scan: ScanReport | None = None
    signature: Signature | None = None

    def list_view(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"files", "scan", "signature"})
        data["file_count"] = len(self.files)
        data["scan_verdict"] = self.scan.verdict.value if self.scan else None
        data["signed_by"] = self.signature.signer if self.signature else None
        return data
