"""Dataset imports from the Hugging Face Hub: the claim that makes a repeat a 409, and the report.

Pure code. A dataset import stores each file as a data upload (``/api/v1/data/...``), so it
has no registry entry of its own: its completion mark lives in the models bucket under
``_datasets/`` (never listed as a model, skipped by the model reindex), and its claim is
taken in the same Redis namespace as model claims, so the repo + revision pair is imported
once."""

from typing import Any

from service.domain.categories import Category, category_for
from service.errors import InvalidInput

DATASETS_PREFIX = "_datasets/"
MAX_PATTERNS = 50
MAX_PATTERN_LENGTH = 200


def dataset_claim(repo: str, revision: str) -> str:
    """The claim id (and, with ``.meta.json``, the completion mark's key) of one repo + revision."""
    return f"{DATASETS_PREFIX}huggingface/{repo}@{revision.replace('/', '~')}"


def check_patterns(values: list[str] | None, what: str) -> list[str] | None:
    if values is None:
        return None
    if len(values) > MAX_PATTERNS:
        raise InvalidInput(f"{what}: at most {MAX_PATTERNS} patterns")
    for value in values:
        if not value or len(value) > MAX_PATTERN_LENGTH or any(ord(c) < 32 for c in value):
            raise InvalidInput(f"{what}: each pattern is 1 to {MAX_PATTERN_LENGTH} printable characters")
    return list(values)


def check_category(value: str | None) -> Category | None:
    if not value:
        return None
    try:
        return Category(value)
    except ValueError:
        raise InvalidInput(f"unknown category {value!r}; one of: {', '.join(c.value for c in Category)}") from None


def base_name(hub_path: str) -> str:
    """The file name an imported file is stored under (its folders are kept in the metadata)."""
    return hub_path.rsplit("/", 1)[-1]


def skip_reason(hub_path: str, size: int | None, category: Category | None, max_size: int) -> str | None:
    """Why a file of the dataset is not imported (None: import it)."""
    try:
        category_for(base_name(hub_path), category.value if category else None)
    except InvalidInput as exc:
        return exc.message
    if size is not None and size > max_size:
        return f"larger than the upload limit of {max_size} bytes"
    return None


def new_report() -> dict[str, Any]:
    return {"files_stored": 0, "files_skipped": 0, "files_failed": 0, "stored": [], "skipped": [], "failed": []}


def add_to_report(report: dict[str, Any], outcome: str, entry: dict[str, Any]) -> None:
    """``outcome`` is stored, skipped or failed."""
    report[outcome].append(entry)
    report[f"files_{outcome}"] += 1


def seen_paths(report: dict[str, Any]) -> set[str]:
    """Hub paths an earlier try already decided (a rerun continues after them)."""
    return {e["hub_path"] for kind in ("stored", "skipped", "failed") for e in report[kind]}
