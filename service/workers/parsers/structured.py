"""Summaries of data files (JSON, YAML, CSV, XML), each read as a stream in bounded memory.

JSON goes through ijson's event parser, YAML through PyYAML's event API, CSV through
``csv`` over an incremental UTF-8 decoder, and XML through expat with DTDs refused
(no entity expansion, so no "billion laughs"). None of them builds the document."""

import csv
import io
from typing import Any, BinaryIO

from service.workers.parsers.errors import ParseError

MAX_KEYS = 100  # distinct keys reported; the counts are always exact
READ = 64 * 1024


def _add_key(keys: list[str], key: Any) -> None:
    if len(keys) < MAX_KEYS and str(key) not in keys:
        keys.append(str(key))


def json_summary(stream: BinaryIO) -> dict[str, Any]:
    """Records (top-level values, or items of a top-level array) and top-level keys."""
    import ijson

    root: str | None = None
    values = records = 0
    keys: list[str] = []
    try:
        for prefix, event, value in ijson.parse(stream, multiple_values=True):
            if prefix == "" and event in ("start_map", "start_array", "string", "number", "boolean", "null"):
                values += 1
                root = root or {"start_map": "object", "start_array": "array"}.get(event, "scalar")
            elif prefix == "" and event == "map_key":
                _add_key(keys, value)
            elif prefix == "item" and event in ("start_map", "start_array", "string", "number", "boolean", "null"):
                records += 1
            elif prefix == "item" and event == "map_key":
                _add_key(keys, value)
    except ijson.JSONError as exc:
        raise ParseError("invalid JSON: " + " ".join(str(exc).split())) from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid JSON: not UTF-8 ({exc.reason})") from None
    if values == 0:
        raise ParseError("invalid JSON: the file holds no value")
    if values > 1:
        root, records = "lines", values
    elif root != "array":
        records = 1
    return {"format": "json", "root": root, "records": records, "keys": keys}


def yaml_summary(stream: BinaryIO) -> dict[str, Any]:
    """Documents and the keys of top-level mappings."""
    import yaml

    documents = 0
    keys: list[str] = []
    stack: list[list[Any]] = []  # open collections: [is_mapping, next node is a key]
    try:
        for event in yaml.parse(stream, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
            elif isinstance(event, yaml.NodeEvent) and not isinstance(event, yaml.CollectionEndEvent):
                if len(stack) == 1 and stack[0][0]:  # a node of the top-level mapping: key or value
                    if stack[0][1] and isinstance(event, yaml.ScalarEvent):
                        _add_key(keys, event.value)
                    stack[0][1] = not stack[0][1]
                if isinstance(event, yaml.CollectionStartEvent):
                    stack.append([isinstance(event, yaml.MappingStartEvent), True])
            elif isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
    except yaml.YAMLError as exc:
        raise ParseError("invalid YAML: " + " ".join(str(exc).split())) from None
    return {"format": "yaml", "documents": documents, "keys": keys}


def csv_summary(stream: BinaryIO) -> dict[str, Any]:
    """Header, columns and data rows (a strict dialect: bad quoting fails the file)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, strict=True)
    header: list[str] | None = None
    rows = ragged = 0
    try:
        for row in reader:
            if header is None:
                header = row
            else:
                rows += 1
                ragged += len(row) != len(header)
    except csv.Error as exc:
        raise ParseError(f"invalid CSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid CSV: not UTF-8 ({exc.reason})") from None
    header = header or []
    return {"format": "csv", "header": header[:MAX_KEYS], "columns": len(header), "rows": rows,
            "ragged_rows": ragged}


class _NoDTD(Exception):
    pass


def xml_summary(stream: BinaryIO) -> dict[str, Any]:
    """Root element and element count; DOCTYPEs are refused (no entity expansion)."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    state: dict[str, Any] = {"root": None, "elements": 0}

    def start(name: str, _attrs: Any) -> None:
        state["root"] = state["root"] or name
        state["elements"] += 1

    def doctype(*_: Any) -> None:
        raise _NoDTD()

    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        while chunk := stream.read(READ):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except _NoDTD:
        raise ParseError("invalid XML: DOCTYPE declarations are not accepted") from None
    except expat.ExpatError as exc:
        raise ParseError(f"invalid XML: {expat.ErrorString(exc.code)} at line {exc.lineno}, "
                         f"column {exc.offset}") from None
    return {"format": "xml", "root": state["root"], "elements": state["elements"]}
