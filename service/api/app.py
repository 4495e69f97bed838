"""The Litestar application factory."""

from litestar import Litestar
from litestar.logging.config import StructLoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.plugins.structlog import StructlogConfig, StructlogPlugin

from service import __version__
from service.api.access_log import access_log
from service.api.auth import auth_setup, document_auth, openapi_security
from service.api.body_timeout import body_read_timeout
from service.api.controllers.dataset_imports import DatasetImportController
from service.api.controllers.direct import DirectController
from service.api.controllers.events import EventsController
from service.api.controllers.files import FilesController
from service.api.controllers.health import HealthController
from service.api.controllers.model_uploads import ModelUploadController
from service.api.controllers.models import ModelsController
from service.api.controllers.tus import TusController
from service.api.controllers.ui import UIController
from service.api.controllers.uploads import UploadController
from service.api.deps import DEPENDENCIES
from service.api.errors import EXCEPTION_HANDLERS
from service.api.lifespan import lifespan_for
from service.api.query import refuse_repeated_query
from service.settings import Settings, get_settings


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app; tests pass their own settings."""
    settings = settings or get_settings()
    metrics = PrometheusConfig(
        app_name="depot", prefix="depot", group_path=True, exclude=["/metrics", "/health"]
    )
    logging = StructlogPlugin(
        StructlogConfig(
            structlog_logging_config=StructLoggingConfig(log_exceptions="debug", pretty_print_tty=not settings.log_json),
            enable_middleware_logging=False,  # service/api/access_log.py writes one line per request
        )
    )
    auth_middleware, auth_guards = auth_setup(settings)  # off (with a warning) when no key is configured
    app = Litestar(
        route_handlers=[UploadController, FilesController, HealthController, MetricsController, UIController,
                        ModelUploadController, ModelsController, EventsController, DatasetImportController,
                        TusController, DirectController],
        dependencies=DEPENDENCIES,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan_for(settings)],
        middleware=[access_log, body_read_timeout(settings.body_read_timeout), metrics.middleware, *auth_middleware],
        guards=[refuse_repeated_query, *auth_guards],  # one value per parameter, then the key's rights
        plugins=[logging],
        openapi_config=OpenAPIConfig(
            title="Depot", version=__version__, path="/schema",
            render_plugins=[SwaggerRenderPlugin()], **openapi_security(bool(auth_middleware)),
        ),
        debug=settings.debug,
    )
    return document_auth(app) if auth_middleware else app
