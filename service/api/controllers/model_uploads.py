"""``/v1/upload/huggingface|github|local`` and ``/v1/upload/tasks/{id}``: start imports, report them.

Every import answers 201 with an empty body and a ``Location`` that resolves at once. The
upstream is asked first (async, never blocking the loop) so a missing model or revision
is a 404 before any task exists. A ZIP streams into the models bucket, and only its
central directory is read back and vetted before the answer."""

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from service.api.imports import new_task, new_task_id, start_import
from service.api.model_schemas import GitHubImport, HuggingFaceImport, TaskView
from service.api.multipart import PartData, PartEnd, PartStart, multipart_events
from service.api.schemas import ErrorBody
from service.domain.models import (
    Source,
    check_github,
    check_hf_repo,
    check_local_name,
    check_revision,
    is_task_id,
    model_id,
    upload_key,
)
from service.domain.naming import sanitise_stem
from service.errors import InvalidInput, NotFound, TooLarge
from service.settings import Settings
from service.storage.models import ModelStore
from service.storage.queue import JobQueue
from service.upstreams import Upstreams
from service.upstreams import zip_archive as zipimport

ERRORS = {
    400: ResponseSpec(ErrorBody, description="invalid name, revision or archive"),
    404: ResponseSpec(ErrorBody, description="model or revision not found upstream (or no model in the ZIP)"),
    409: ResponseSpec(ErrorBody, description="this source+id+revision is already imported or in flight"),
    503: ResponseSpec(ErrorBody, description="storage, queue or upstream unavailable"),
}
CREATED = "201: empty body; Location: /v1/upload/tasks/{task_id}"
LOCATION = [ResponseHeader(name="Location", documentation_only=True, required=True,
                           description="the task: /v1/upload/tasks/{task_id}")]


def created(location: str) -> Response[None]:
    return Response(content=b"", status_code=201, headers={"Location": location}, media_type=MediaType.TEXT)


class ModelUploadController(Controller):
    path = "/v1/upload"
    tags = ["models"]

    @post("/huggingface", operation_id="importHuggingFace", status_code=201, responses=ERRORS,
          response_description=CREATED, response_headers=LOCATION)
    async def huggingface(self, data: HuggingFaceImport, models: ModelStore, upstreams: Upstreams,
                          queue: JobQueue) -> Response[None]:
        """Import every file of a Hugging Face model revision (a worker streams it into S3)."""
        repo, revision = check_hf_repo(data.model_tag), check_revision(data.revision)
        commit = await upstreams.hf.resolve(repo, revision)
        task = new_task(new_task_id(), Source.HUGGINGFACE, f"{repo}@{revision}", revision,
                        [model_id(Source.HUGGINGFACE, repo, revision)], repo=repo, commit_at_request=commit)
        return created(await start_import(models, queue, task))

    @post("/github", operation_id="importGitHub", status_code=201, responses=ERRORS, response_description=CREATED,
          response_headers=LOCATION)
    async def github(self, data: GitHubImport, models: ModelStore, upstreams: Upstreams,
                     queue: JobQueue) -> Response[None]:
        """Import a GitHub repository at a branch, tag or commit (its archive, never a clone)."""
        name, revision = check_github(data.owner, data.repo_name), check_revision(data.revision)
        commit = await upstreams.github.resolve(data.owner, data.repo_name, revision)
        task = new_task(new_task_id(), Source.GITHUB, f"{name}@{revision}", revision,
                        [model_id(Source.GITHUB, name, revision)], owner=data.owner, repo=data.repo_name,
                        commit_at_request=commit)
        return created(await start_import(models, queue, task))

    @post("/local", operation_id="importZip", status_code=201, request_max_body_size=None,
          responses={**ERRORS, 413: ResponseSpec(ErrorBody, description="archive larger than the limit")},
          response_description=CREATED, response_headers=LOCATION)
    async def local(
        self, request: Request, models: ModelStore, settings: Settings, queue: JobQueue,
        model_name: str | None = Parameter(default=None, description="name of a single-model archive"),
        revision: str = Parameter(default="main", description="revision recorded for the models"),
    ) -> Response[None]:
        """Import a ZIP (multipart ``file``): each top-level folder is a model, or the whole
        archive is one named ``model_name``. Vetted before the answer; unpacked by a worker."""
        revision = check_revision(revision)
        if model_name is not None:
            check_local_name(model_name)
        task_id = new_task_id()
        stored = False
        try:
            size, filename = await self._receive(request, models, settings, task_id)
            stored = True
            entries = await zipimport.read_directory(models.reader, models.bucket, upload_key(task_id), size,
                                                     settings)
            fallback = sanitise_stem(filename or "model")[:96].strip("_-.") or "model"
            plan = zipimport.plan_models(entries, model_name, fallback, settings)
            names = sorted(plan)
            task = new_task(task_id, Source.LOCAL, ",".join(f"{n}@{revision}" for n in names), revision,
                            [model_id(Source.LOCAL, n, revision) for n in names], size=size,
                            model_name=model_name, fallback_name=fallback, names=names, filename=filename)
            return created(await start_import(models, queue, task))
        except BaseException:
            if stored:
                await models.drop_zip(task_id)
            raise

    @staticmethod
    async def _receive(request: Request, models: ModelStore, settings: Settings,
                       task_id: str) -> tuple[int, str | None]:
        """Stream the ``file`` part into S3 (bounded memory); other parts are ignored."""
        limit = settings.model_zip_max_bytes
        writer, filename, in_file, info = None, None, False, None
        try:
            async for event in multipart_events(request.stream(), request.headers.get("content-type")):
                if isinstance(event, PartStart):
                    in_file = event.name == "file"
                    if in_file:
                        if writer is not None:
                            raise InvalidInput("only one 'file' part per request")
                        filename = event.filename
                        writer = models.stage_zip(task_id)
                elif isinstance(event, PartData) and in_file:
                    if writer.size + len(event.data) > limit:
                        raise TooLarge(f"archive exceeds the limit of {limit} bytes")
                    await writer.write(event.data)
                elif isinstance(event, PartEnd) and in_file:
                    in_file = False
                    info = await writer.commit()
            if writer is None or info is None:
                raise InvalidInput("missing 'file' part (a ZIP archive)")
            if info.size == 0:
                raise InvalidInput("the archive is empty")
            return info.size, filename
        except BaseException:
            if writer is not None and info is None:
                await writer.abort()
            elif info is not None:
                await models.drop_zip(task_id)
            raise

    @get("/tasks/{task_id:str}", operation_id="getUploadTask",
         responses={404: ResponseSpec(ErrorBody, description="no such task")})
    async def task(self, task_id: str, models: ModelStore) -> TaskView:
        """Status of an import: PENDING, RUNNING, DONE or FAILED (with ``error_msg``)."""
        if not is_task_id(task_id):
            raise NotFound(f"task {task_id} not found")
        record = await models.get_task(task_id)
        return TaskView(**record.model_dump(mode="json", exclude={"details"}))
