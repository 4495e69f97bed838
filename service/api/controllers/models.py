"""``/v1/models``: the registry of imported models (list, manifest, delete)."""

from litestar import Controller, delete, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from service.api.controllers.files import MAX_OFFSET
from service.api.model_schemas import ModelList, ModelView
from service.api.schemas import ErrorBody
from service.domain.models import ModelManifest, Source, model_id, parse_model_id
from service.errors import InvalidInput, NotFound
from service.storage.models import ModelStore

NOT_FOUND = {404: ResponseSpec(ErrorBody, description="no such model")}


def _model_id(raw: str) -> str:
    try:
        return model_id(*parse_model_id(raw))
    except InvalidInput:
        raise NotFound(f"model {raw.strip('/')} not found") from None


class ModelsController(Controller):
    path = "/v1/models"
    tags = ["models"]

    @get("/", operation_id="listModels", responses={400: ResponseSpec(ErrorBody, description="bad filter")})
    async def list_models(
        self, models: ModelStore,
        source: str | None = Parameter(default=None, description="HUGGINGFACE, GITHUB or LOCAL"),
        limit: int = Parameter(default=50, ge=1, le=1000), offset: int = Parameter(default=0, ge=0, le=MAX_OFFSET),
    ) -> ModelList:
        """Imported models, newest first, optionally of one source."""
        try:
            chosen = Source(source.upper()) if source else None
        except ValueError:
            raise InvalidInput("source must be HUGGINGFACE, GITHUB or LOCAL") from None
        total, entries = await models.page(chosen, limit, offset)
        return ModelList(total=total, limit=limit, offset=offset, models=entries)

    @get("/{model_id:path}", operation_id="getModel", responses=NOT_FOUND)
    async def get_model(self, model_id: str, models: ModelStore) -> ModelView:
        """The manifest: source, name, revision, resolved commit, files with size and sha256."""
        manifest: ModelManifest = await models.get_model(_model_id(model_id))
        return ModelView(**manifest.model_dump(mode="json"))

    @delete("/{model_id:path}", operation_id="deleteModel", status_code=204,
            responses={**NOT_FOUND, 409: ResponseSpec(ErrorBody, description="an import of it is running")})
    async def delete_model(self, model_id: str, models: ModelStore) -> None:
        """Delete a model's files, manifest and registry entry."""
        await models.delete_model(_model_id(model_id))
