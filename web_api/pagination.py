"""Opaque cursors: a page ends where the next one starts, whatever was added meanwhile."""

from __future__ import annotations

import base64
import binascii

from web_api.problems import VALIDATION, FieldError, ProblemError

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    if not text.startswith("p") or not text[1:].isdigit() or len(text) > 20:
        raise ProblemError(
            VALIDATION,
            "the cursor is not one this API gave",
            errors=[FieldError(pointer="cursor", detail="not a cursor of this API")],
        )
    return int(text[1:])
