"""``POST /api/v1/data/import/huggingface``: import a Hub dataset's files as data uploads.

The same task model and status URL as model imports (``/v1/upload/tasks/{id}``): the Hub is
asked first, so an unknown dataset or revision is a 404 before any task exists, and the
repo + revision claim makes a second request a 409 while the first runs or after it is done."""

from litestar import Controller, Request, Response, post
from litestar.openapi.datastructures import ResponseSpec
from pydantic import BaseModel, Field

from service.api.auth import require_purpose
from service.api.controllers.model_uploads import CREATED, LOCATION, created
from service.api.imports import new_task, new_task_id, start_import
from service.api.schemas import ErrorBody
from service.domain.categories import Category, Purpose
from service.domain.datasets import MAX_PATTERN_LENGTH, MAX_PATTERNS, check_patterns, dataset_claim
from service.domain.jobs import IMPORT_DATASET
from service.domain.models import Source, check_hf_repo, check_revision
from service.storage.models import ModelStore
from service.storage.queue import JobQueue
from service.upstreams import Upstreams

Patterns = list[str] | None


class HuggingFaceDatasetImport(BaseModel):
    repo_id: str = Field(examples=["depot/chat-sft"], max_length=200)
    revision: str = Field("main", examples=["main", "v1.0"], max_length=200)
    purpose: Purpose = Field(examples=["training"])
    category: Category | None = Field(
        None, description="every imported file must be of this category; others are skipped"
    )
    allow_patterns: Patterns = Field(
        None,
        examples=[["data/*.parquet"]],
        max_length=MAX_PATTERNS,
        description=f"glob patterns of the Hub paths to import (each at most {MAX_PATTERN_LENGTH} characters)",
    )
    ignore_patterns: Patterns = Field(None, examples=[["*.md"]], max_length=MAX_PATTERNS)


class DatasetImportController(Controller):
    path = "/api/v1/data/import"
    tags = ["data"]

    @post(
        "/huggingface",
        operation_id="importHuggingFaceDataset",
        status_code=201,
        response_description=CREATED,
        response_headers=LOCATION,
        responses={
            400: ResponseSpec(ErrorBody, description="invalid repo id, revision, purpose, category or pattern"),
            403: ResponseSpec(ErrorBody, description="the API key may not write to this purpose"),
            404: ResponseSpec(ErrorBody, description="dataset or revision not found on the Hub"),
            409: ResponseSpec(ErrorBody, description="this repo + revision is already imported or in flight"),
            503: ResponseSpec(ErrorBody, description="storage, queue or the Hub unavailable"),
        },
    )
    async def huggingface(
        self,
        request: Request,
        data: HuggingFaceDatasetImport,
        models: ModelStore,
        upstreams: Upstreams,
        queue: JobQueue,
    ) -> Response[None]:
        """Import every file of a Hugging Face dataset revision into the purpose's bucket; each file is
        committed like an upload (sniffed, categorised, tagged, indexed, deduplicated, ingested).
        The task at ``Location`` reports the files stored, skipped (outside the allow-list) and failed."""
        require_purpose(request, data.purpose.value)
        repo, revision = check_hf_repo(data.repo_id), check_revision(data.revision)
        allow = check_patterns(data.allow_patterns, "allow_patterns")
        ignore = check_patterns(data.ignore_patterns, "ignore_patterns")
        commit = await upstreams.hf_datasets.resolve(repo, revision)
        task = new_task(
            new_task_id(),
            Source.HUGGINGFACE,
            f"datasets/{repo}@{revision}",
            revision,
            [],
            repo=repo,
            commit_at_request=commit,
            purpose=data.purpose.value,
            category=data.category.value if data.category else None,
            allow_patterns=allow,
            ignore_patterns=ignore,
        )
        task.kind = "dataset"
        return created(
            await start_import(models, queue, task, claims=[dataset_claim(repo, revision)], job_name=IMPORT_DATASET)
        )
