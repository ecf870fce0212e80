"""Texts for recipients: one message catalogue per language, none in code."""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "pl", "ru", "sv")
FALLBACK = "en"


@cache
def catalogue(language: str) -> dict[str, str]:
    path = LOCALES / f"{language}.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def text(language: str | None, key: str, *, escape: bool = True, **values: object) -> str:
    """The message ``key`` in ``language`` (English when missing), with ``values`` filled in.

    Values are HTML-escaped for Telegram's HTML parse mode unless ``escape`` is False
    (plain-text channels such as mail).
    """
    lang = language if language in LANGUAGES else FALLBACK
    template = catalogue(lang).get(key) or catalogue(FALLBACK)[key]
    if escape:
        values = {k: html.escape(str(v), quote=False) for k, v in values.items()}
    return template.format(**values)
