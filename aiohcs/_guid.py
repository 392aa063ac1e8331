"""GUID text, read one way everywhere: any case, optional braces, canonical dashes.

:func:`guid_from_text` is the one reader of a GUID's text; :func:`aiohcs._args.check_guid`
(arguments) and the schema's GUID fields build on it. It imports nothing of aiohcs, so
any module (the schema models included) can use it.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

__all__ = ["guid_from_text"]

_GUID_TEXT: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def guid_from_text(text: str) -> uuid.UUID | None:
    """The GUID ``text`` spells (any case; braces both or neither); None if it spells none."""
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if not _GUID_TEXT.fullmatch(text):
        return None
    return uuid.UUID(text)
