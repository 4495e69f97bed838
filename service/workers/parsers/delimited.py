"""Tab-separated values: the CSV summary with a tab delimiter (header, columns, rows)."""

import csv
import io
from typing import Any, BinaryIO

from service.workers.parsers.errors import ParseError

MAX_COLUMNS = 100  # header names reported; the count is always exact
MAX_NAME = 256  # characters of a header name kept in the summary


def tsv_summary(stream: BinaryIO) -> dict[str, Any]:
    """Strict dialect as for CSV: bad quoting fails the file with its line number."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter="\t", strict=True)
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
        raise ParseError(f"invalid TSV at line {reader.line_num}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid TSV: not UTF-8 ({exc.reason})") from None
    header = header or []
    return {
        "format": "tsv",
        "header": [name[:MAX_NAME] for name in header[:MAX_COLUMNS]],
        "columns": len(header),
        "rows": rows,
        "ragged_rows": ragged,
    }
