"""Safe names: the client's filename, the unique saved name, and file paths in URLs."""

import re
import secrets
import unicodedata
from datetime import datetime
from urllib.parse import unquote

from service.domain.categories import Category, Purpose, extension_of
from service.errors import Forbidden, InvalidInput

MAX_FILENAME_LENGTH = 255
MANIFEST_SUFFIX = ".meta.json"
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_SAVED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,250}")  # fullmatch: no trailing newline


def _is_hostile_char(ch: str) -> bool:
    """Control, format (bidi overrides, zero-width) and separator characters."""
    return unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def check_original_filename(raw: str | None) -> str:
    """The client's filename, NFC-normalised, or a 400 when it is empty, a path or hostile."""
    if raw is None or not raw.strip():
        raise InvalidInput("the file part has no filename")
    name = unicodedata.normalize("NFC", raw)
    if len(name) > MAX_FILENAME_LENGTH:
        raise InvalidInput(f"filename longer than {MAX_FILENAME_LENGTH} characters")
    if "/" in name or "\\" in name or re.match(r"^[A-Za-z]:", name):
        raise InvalidInput("filename must be a bare name, not a path")
    if any(_is_hostile_char(ch) for ch in name):
        raise InvalidInput("filename contains control or invisible formatting characters")
    if name.strip(". ") == "" or ".." in name:
        raise InvalidInput("filename must not contain '..'")
    _check_disguises(name)
    return name


def _check_disguises(name: str) -> None:
    """Names that become a path or hide a byte once decoded: percent-encoding (up to three
    layers, e.g. ``%252e%252e%252f``, ``a.php%00.txt``) or compatibility forms (``．．／``)."""
    seen = name
    for _ in range(3):
        decoded = unquote(seen)
        if decoded == seen:
            break
        if "/" in decoded or "\\" in decoded or ".." in decoded or any(_is_hostile_char(ch) for ch in decoded):
            raise InvalidInput("filename hides a path or control character in percent-encoding")
        seen = decoded
    folded = unicodedata.normalize("NFKC", name)
    if "/" in folded or "\\" in folded or ".." in folded:
        raise InvalidInput("filename contains look-alike path characters")


def sanitise_stem(filename: str) -> str:
    """An ASCII stem of letters, digits, '_' and '-', never empty."""
    stem = filename[: len(filename) - len(extension_of(filename))] if extension_of(filename) else filename
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return _UNSAFE_CHARS.sub("_", ascii_stem).strip("_-")[:100] or "file"


def saved_name(filename: str, now: datetime) -> str:
    """``<stem>_<YYYYmmdd_HHMMSS>_<random>.<ext>``: unique even for same-name uploads in one second."""
    return f"{sanitise_stem(filename)}_{now:%Y%m%d_%H%M%S}_{secrets.token_hex(4)}{extension_of(filename)}"


def object_key(category: Category, name: str) -> str:
    """Key of a stored file inside its purpose's bucket."""
    return f"{category.value}/{name}"


def manifest_key(category: Category, name: str) -> str:
    """Key of the JSON manifest that sits beside the file."""
    return f"{category.value}/{name}{MANIFEST_SUFFIX}"


def file_path(purpose: Purpose, category: Category, name: str) -> str:
    """The public path of a file: ``<purpose>/<category>/<saved_name>``."""
    return f"{purpose.value}/{category.value}/{name}"


def parse_file_path(path: str) -> tuple[Purpose, Category, str]:
    """Split a public path; anything that is not exactly a stored file's path is a 403."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or any(p in ("", ".", "..") for p in parts):
        raise Forbidden("invalid file path")
    purpose, category, name = parts
    if purpose not in Purpose.__members__ or category not in Category.__members__:
        raise Forbidden("invalid file path")
    if not _SAVED_NAME.fullmatch(name) or ".." in name or name.endswith(MANIFEST_SUFFIX):
        raise Forbidden("invalid file path")
    return Purpose(purpose), Category(category), name
