"""Validation of the upload form's text fields (``purpose``, ``category``, ``description``, ``metadata``)."""

import json
import math
from dataclasses import dataclass, field
from typing import Any

from service.domain.categories import Category, Purpose, category_for, parse_purpose
from service.errors import InvalidInput

FORM_FIELDS = frozenset({"purpose", "category", "description", "metadata"})
MAX_FIELD_BYTES = 64 * 1024  # any single text field, before its own finer limit


class NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise NonFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise NonFinite(text)
    return value


def loads_strict(raw: str) -> Any:
    """``json.loads`` without its extensions: ``NaN``, ``Infinity`` and numbers that overflow to
    infinity are refused (Python accepts them; they are not JSON and would be stored as null)."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except NonFinite as exc:
        raise InvalidInput(f"non-finite number {str(exc)[:40]!r} in JSON: numbers must be finite") from None


def parse_metadata(raw: str | None, max_bytes: int) -> dict[str, Any]:
    """The client's metadata: a JSON object of bounded size with finite numbers, or nothing."""
    if raw is None or raw.strip() == "":
        return {}
    if len(raw.encode()) > max_bytes:
        raise InvalidInput(f"metadata larger than {max_bytes} bytes")
    try:
        value = loads_strict(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"metadata: {exc.message}") from None
    except RecursionError:  # deep nesting ([[[[...) exhausts the parser's stack
        raise InvalidInput("metadata is nested too deeply (at most a few hundred levels)") from None
    except ValueError as exc:  # not JSON, or an integer of thousands of digits
        raise InvalidInput(f"metadata must be a JSON object: {str(exc)[:100]}") from None
    if not isinstance(value, dict):
        raise InvalidInput("metadata must be a JSON object, not " + type(value).__name__)
    return value


def check_description(raw: str | None, max_length: int) -> str | None:
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise InvalidInput(f"description longer than {max_length} characters")
    if "\x00" in raw:
        raise InvalidInput("description contains a NUL character")
    return raw


@dataclass
class UploadForm:
    """The text fields of one upload request, filled as they stream in."""

    max_description_length: int
    max_metadata_bytes: int
    raw: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, fields: dict[str, str], max_description_length: int, max_metadata_bytes: int) -> "UploadForm":
        """The form that declared fields stand for (tus ``Upload-Metadata``, a direct upload's
        declaration: ``filename`` and other keys are the caller's), checked as POST /upload's."""
        form = cls(max_description_length, max_metadata_bytes)
        for name in ("purpose", "category", "description", "metadata"):  # the first error is the purpose's
            if name in fields:
                form.add(name, fields[name])
        return form

    def add(self, name: str, value: str) -> None:
        """Record a field, checking what can be checked at once (fail before the file streams)."""
        if name not in FORM_FIELDS:
            raise InvalidInput(f"unknown form field {name!r}; expected one of: file, {', '.join(sorted(FORM_FIELDS))}")
        if name in self.raw:
            raise InvalidInput(f"form field {name!r} given twice")
        self.raw[name] = value
        {
            "purpose": lambda: parse_purpose(value),
            "category": lambda: self._check_category(value),
            "description": lambda: check_description(value, self.max_description_length),
            "metadata": lambda: parse_metadata(value, self.max_metadata_bytes),
        }[name]()

    @staticmethod
    def _check_category(value: str) -> None:
        if value and value not in Category.__members__:
            raise InvalidInput(f"unknown category {value!r}; one of: {', '.join(c.value for c in Category)}")

    @property
    def purpose(self) -> Purpose:
        return parse_purpose(self.raw.get("purpose"))

    def category_of(self, filename: str) -> Category:
        return category_for(filename, self.raw.get("category") or None)

    @property
    def description(self) -> str | None:
        return check_description(self.raw.get("description"), self.max_description_length)

    @property
    def metadata(self) -> dict[str, Any]:
        return parse_metadata(self.raw.get("metadata"), self.max_metadata_bytes)
