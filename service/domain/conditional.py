"""``If-None-Match`` (RFC 9110 §13.1.2): does a request's condition name the current ETag?

The field is ``*`` or a comma-separated list of entity tags, possibly over several header
lines (one list), each strong (``"x"``) or weak (``W/"x"``). ``If-None-Match`` always uses the
weak comparison: tags match when their opaque parts are equal, whatever their ``W/``."""

import re

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text (a ',' may sit inside)
_TAG = re.compile(r'[ \t]*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*')
_EMPTY = re.compile(r"[ \t]*")


def entity_tags(values: list[str]) -> list[str] | None:
    """The opaque tags of every line (``["*"]`` for ``*``), or None for a malformed field."""
    field = ",".join(values)
    if field.strip(" \t") == "*":
        return ["*"]
    tags: list[str] = []
    position = 0
    while position <= len(field):
        tag = _TAG.match(field, position)
        if tag is not None:
            tags.append(tag.group(1))
            position = tag.end()
        else:
            position = _EMPTY.match(field, position).end()  # an empty list element: allowed and skipped
        if position == len(field):
            return tags
        if field[position] != ",":
            return None
        position += 1
    return tags


def none_match(values: list[str], etag: str) -> bool:
    """True when ``If-None-Match`` fails for the current ``etag`` (a quoted strong tag), i.e. when
    a GET or HEAD answers 304: the field is ``*`` or lists the tag. A malformed field is ignored."""
    if not values:
        return False
    tags = entity_tags(values)
    if not tags:
        return False
    return tags == ["*"] or etag.removeprefix("W/").strip('"') in tags
