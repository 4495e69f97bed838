"""Summaries of data files (JSON, YAML, CSV, XML), each read as a stream in bounded memory.

JSON goes through ijson's event parser, YAML through PyYAML's event API, CSV through
``csv`` over an incremental UTF-8 decoder, and XML through expat with DTDs refused
(no entity expansion, so no "billion laughs"). None of them builds the document, and each
counts its nesting depth from the events, failing at ``ParseLimits.max_depth`` (deep nesting
otherwise costs memory or CPU that grows with the square of the depth)."""

import csv
import io
from typing import Any, BinaryIO

from service.workers.parsers.bounds import DEFAULT_LIMITS, ParseLimits, clip, too_deep
from service.workers.parsers.errors import ParseError

MAX_KEYS = 100  # distinct keys reported; the counts are always exact
READ = 64 * 1024


def _add_key(keys: list[str], key: Any, limits: ParseLimits) -> None:
    key = clip(str(key), limits.max_string)
    if len(keys) < MAX_KEYS and key not in keys:
        keys.append(key)


def json_summary(stream: BinaryIO, limits: ParseLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Records (top-level values, or items of a top-level array) and top-level keys.

    ijson's basic events carry no path (its ``parse`` builds one prefix string per level,
    which grows with the square of the depth), so the depth is counted here."""
    import ijson

    root = top = None  # kind of the first and of the current top-level value
    values = records = depth = 0
    keys: list[str] = []
    try:
        for event, value in ijson.basic_parse(stream, multiple_values=True):
            if event in ("end_map", "end_array"):
                depth -= 1
                continue
            if event == "map_key":
                if depth == 1 or (depth == 2 and top == "array"):
                    _add_key(keys, value, limits)
                continue
            if depth == 0:
                values += 1
                top = {"start_map": "object", "start_array": "array"}.get(event, "scalar")
                root = root or top
            elif depth == 1 and top == "array":
                records += 1
            if event in ("start_map", "start_array"):
                depth += 1
                if depth > limits.max_depth:
                    raise too_deep("JSON", limits.max_depth)
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


def yaml_summary(stream: BinaryIO, limits: ParseLimits = DEFAULT_LIMITS) -> dict[str, Any]:
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
                        _add_key(keys, event.value, limits)
                    stack[0][1] = not stack[0][1]
                if isinstance(event, yaml.CollectionStartEvent):
                    stack.append([isinstance(event, yaml.MappingStartEvent), True])
                    if len(stack) > limits.max_depth:
                        raise too_deep("YAML", limits.max_depth)
            elif isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
    except yaml.YAMLError as exc:
        raise ParseError("invalid YAML: " + " ".join(str(exc).split())) from None
    return {"format": "yaml", "documents": documents, "keys": keys}


def csv_summary(stream: BinaryIO, limits: ParseLimits = DEFAULT_LIMITS, delimiter: str = ",") -> dict[str, Any]:
    """Header, columns and data rows (a strict dialect: bad quoting fails the file); TSV with ``\t``."""
    kind = "tsv" if delimiter == "\t" else "csv"
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter, strict=True)
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
        raise ParseError(f"invalid {kind.upper()} at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid {kind.upper()}: not UTF-8 ({exc.reason})") from None
    header = header or []
    return {"format": kind, "header": [clip(h, limits.max_string) for h in header[:MAX_KEYS]],
            "columns": len(header), "rows": rows, "ragged_rows": ragged}


class _NoDTD(Exception):
    pass


def xml_summary(stream: BinaryIO, limits: ParseLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Root element and element count; DOCTYPEs are refused (no entity expansion)."""
    from xml.parsers import expat

    parser = expat.ParserCreate()
    state: dict[str, Any] = {"root": None, "elements": 0, "depth": 0}

    def start(name: str, _attrs: Any) -> None:
        state["root"] = state["root"] or clip(name, limits.max_string)
        state["elements"] += 1
        state["depth"] += 1
        if state["depth"] > limits.max_depth:
            raise too_deep("XML", limits.max_depth)

    def end(_name: str) -> None:
        state["depth"] -= 1

    def doctype(*_: Any) -> None:
        raise _NoDTD()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
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
