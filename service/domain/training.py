"""Training thresholds: when enough new training data of a category has arrived.

``DEPOT_TRAINING_THRESHOLDS`` reads ``audio:count=50,bytes=1073741824;text:count=200``:
per category a file count and/or a byte total since the last ``training.ready``
(0 or absent = that kind of threshold is off; whichever is reached first fires)."""

from dataclasses import dataclass

from service.domain.categories import Category
from service.errors import InvalidInput


@dataclass(frozen=True)
class Threshold:
    files: int = 0
    bytes: int = 0


def parse_thresholds(raw: str) -> dict[Category, Threshold]:
    thresholds: dict[Category, Threshold] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        name, _, spec = part.partition(":")
        try:
            category = Category(name.strip())
        except ValueError:
            raise InvalidInput(f"training threshold for unknown category {name.strip()!r}") from None
        values = {"count": 0, "bytes": 0}
        for item in filter(None, (i.strip() for i in spec.split(","))):
            key, _, value = item.partition("=")
            if key.strip() not in values or not value.strip().isdigit():
                raise InvalidInput(f"training threshold {item!r}: expected count=<n> or bytes=<n>")
            values[key.strip()] = int(value)
        if not values["count"] and not values["bytes"]:
            raise InvalidInput(f"training threshold for {category.value!r} sets neither count nor bytes")
        thresholds[category] = Threshold(files=values["count"], bytes=values["bytes"])
    return thresholds
