"""Request and response models of the model-import API (shapes of model-upload-api.md)."""

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from service.domain.models import Signature
from service.domain.scans import ScanReport


def _default_revision(value: str | None) -> str:
    """An empty or null revision means the default branch, as an omitted one does."""
    return value or "main"


Revision = Annotated[str | None, AfterValidator(_default_revision)]


class HuggingFaceImport(BaseModel):
    model_tag: str = Field(examples=["bert-base-uncased"], max_length=200)
    revision: Revision = Field("main", examples=["main"], max_length=200)


class GitHubImport(BaseModel):
    owner: str = Field(examples=["huggingface"], max_length=100)
    repo_name: str = Field(examples=["transformers"], max_length=100)
    revision: Revision = Field("main", examples=["main", "v1.0", "3f2a9c1"], max_length=200)


class TaskView(BaseModel):
    id: str
    model_tag: str
    task_status: str = Field(examples=["PENDING", "RUNNING", "DONE", "FAILED"])
    source: str = Field(examples=["HUGGINGFACE", "GITHUB", "LOCAL"])
    error_msg: str | None = None
    created_at: str
    updated_at: str
    revision: str
    resolved_commit: str | None = None
    model_ids: list[str] = Field(default_factory=list, description="GET /v1/models/{id} once DONE")
    attempts: int = 0
    scan: dict[str, ScanReport] = Field(default_factory=dict, description="the scan report of each model")
    kind: str = Field("model", examples=["model", "dataset"], description="what the task imports")
    report: dict[str, Any] | None = Field(
        None, description="dataset imports: counts and lists of the files stored, skipped and failed"
    )


class ModelFileView(BaseModel):
    path: str
    size: int
    sha256: str


class ModelView(BaseModel):
    id: str = Field(examples=["huggingface/bert-base-uncased@main"])
    source: str
    name: str
    revision: str
    resolved_commit: str | None = None
    size: int
    imported_at: str
    task_id: str
    files: list[ModelFileView]
    scan: ScanReport | None = Field(None, description="per file: format, verdict, findings, scanner")
    signature: Signature | None = Field(None, description="the verified signer, when the model was signed")


class ModelList(BaseModel):
    success: bool = True
    total: int
    limit: int
    offset: int
    models: list[dict[str, Any]]
