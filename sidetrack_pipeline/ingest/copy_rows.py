"""Rows for PostgreSQL's COPY text format, and loading them into a table in one round trip."""

from __future__ import annotations

import io
import re

# COPY's text format gives these four characters a meaning; in a value they must be escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = re.compile(r"[\\\t\n\r]").search   # (much cheaper than translate when absent)
NULL = "\\N"


def copy_field(value: object) -> str:
    if value is None:
        return NULL
    text = value if type(value) is str else str(value)
    return text.translate(_ESCAPES) if _SPECIAL(text) else text


def copy_line(*values: object) -> str:
    return "\t".join(map(copy_field, values)) + "\n"


def copy_into(cur, table: str, columns: tuple[str, ...], text: str) -> None:
    """COPY `text` (lines from `copy_line`) into `table`; nothing is sent for an empty text."""
    if not text:
        return
    cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin with (encoding 'utf8')",
                    io.BytesIO(text.encode("utf-8")), size=1 << 20)
