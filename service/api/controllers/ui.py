"""``/ui``: the browser UI, served by the API itself from the static files in ``service/ui``.

Plain HTML, CSS and ES modules with no build step and nothing fetched from the internet. The
page only calls the public HTTP API, so it works with any auth the API has (the key is entered
in the page and sent as ``Authorization: Bearer``). A strict CSP allows this origin only."""

from pathlib import Path

from litestar import Controller, MediaType, Response, get
from litestar.response import File

from service.errors import NotFound

UI_DIR = Path(__file__).resolve().parent.parent.parent / "ui"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def asset(name: str) -> Path:
    """A file inside ``service/ui``; anything else (``..``, odd types) is a 404."""
    path = (UI_DIR / name).resolve()
    if not path.is_relative_to(UI_DIR) or not path.is_file() or path.suffix not in TYPES:
        raise NotFound(f"no UI asset {name!r}")
    return path


class UIController(Controller):
    path = "/ui"
    include_in_schema = False

    @get("/", operation_id="uiIndex", media_type=MediaType.HTML)
    async def index(self) -> Response:
        """The single page; views are switched by the URL fragment (``#browse``...)."""
        return Response(asset("index.html").read_bytes(), media_type=TYPES[".html"],
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @get("/static/{name:path}", operation_id="uiAsset")
    async def static(self, name: str) -> File:
        """CSS, JavaScript modules and icons; revalidated so a deploy shows at once."""
        path = asset(name.lstrip("/"))
        return File(path, media_type=TYPES[path.suffix], content_disposition_type="inline",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})
