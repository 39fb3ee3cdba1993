"""ISRC: the International Standard Recording Code, which names one recording (one edit of it)."""

from __future__ import annotations

import re

_ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")


def clean_isrc(value: object) -> str | None:
    """The canonical 12-character ISRC (upper case, no hyphens or spaces: 'GBAYE0601498'),
    or None for missing or malformed values ('GB-AYE-06-01498' and 'gbaye0601498' are fine)."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"[\s-]", "", value).upper()
    return text if _ISRC.fullmatch(text) else None
