"""The words a person reads — web pages, mails and bot messages — from one catalogue per
language, and dates, times and sizes formatted for the reader's locale by Babel.

A language's catalogue is the folder ``catalogues/<language>/``: one file per part of the
product (``chat.json``, ``mail.json``, ``web.json``, ...), each key in exactly one file.
Every catalogue holds every key with the same placeholders (a test holds them to it); a
key missing from one still falls back to English rather than fail a message.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_datetime
from babel.units import format_unit

CATALOGUES = Path(__file__).parent / "catalogues"
LANGUAGES = ("en", "pl", "ru", "sv")
FALLBACK = "en"
NAMES = {"en": "English", "pl": "Polski", "ru": "Русский", "sv": "Svenska"}
"""Each language in its own words, as a switcher offers it."""
_UNITS = (
    (1024**3, "digital-gigabyte"),
    (1024**2, "digital-megabyte"),
    (1024, "digital-kilobyte"),
)


@cache
def catalogue(language: str) -> dict[str, str]:
    """Every message of ``language``, gathered from the files of its folder."""
    data: dict[str, str] = {}
    for path in sorted((CATALOGUES / language).glob("*.json")):
        part: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        twice = data.keys() & part.keys()
        if twice:
            raise ValueError(f"{path}: keys also in another file: {', '.join(sorted(twice))}")
        data.update(part)
    return data


def known(language: str | None) -> str:
    """``language`` when Inkpost speaks it, else English."""
    return language if language in LANGUAGES else FALLBACK


def text(language: str | None, key: str, *, escape: bool = True, **values: object) -> str:
    """The message ``key`` in ``language`` (English when missing), with ``values`` filled in.

    Values are HTML-escaped for Telegram's HTML parse mode unless ``escape`` is False
    (plain-text channels such as mail, and templates that escape what they print).
    """
    template = message(language, key)
    if escape:
        values = {k: html.escape(str(v), quote=False) for k, v in values.items()}
    return template.format(**values)


def message(language: str | None, key: str) -> str:
    """The message ``key`` in ``language`` (English when missing) as its catalogue writes
    it, placeholders unfilled: for words a page fills in many times over."""
    return catalogue(known(language)).get(key) or catalogue(FALLBACK)[key]


def when(value: datetime, language: str | None, *, zone: str = "UTC") -> str:
    """'23 grudnia 2026, 12:00 UTC': a moment as the reader's locale writes it."""
    return format_datetime(
        value, "d MMMM y, HH:mm zzz", tzinfo=ZoneInfo(zone), locale=known(language)
    )


@lru_cache(maxsize=4096)
def size(value: int, language: str | None) -> str:
    """'1,5 МБ', '340 kB', '12 bytes': a file's size as the reader's locale writes it
    (remembered: Babel takes longer to spell a size than a page takes to render)."""
    for factor, unit in _UNITS:
        if value >= factor:
            amount = round(value / factor, 1)
            return format_unit(amount, unit, length="short", locale=known(language))
    return format_unit(value, "digital-byte", length="long", locale=known(language))


def negotiate(accept_language: str | None) -> str | None:
    """The language of ours a browser's ``Accept-Language`` prefers, if any."""
    if not accept_language:
        return None
    wanted = []
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((quality, tag.strip().replace("_", "-")))
    ordered = [tag for _, tag in sorted(wanted, key=lambda w: -w[0])]
    found = negotiate_locale(ordered, list(LANGUAGES), sep="-")
    if found is None:
        found = negotiate_locale([t.split("-")[0] for t in ordered], list(LANGUAGES), sep="-")
    return found


def plural(language: str | None, key: str, count: int, **values: object) -> str:
    """The message ``key.<form>`` for ``count`` by the language's plural rules (Babel's
    CLDR data: one, few, many, other), with ``count`` and ``values`` filled in."""
    lang = known(language)
    form = _locale(lang).plural_form(count)
    messages = catalogue(lang)
    chosen = f"{key}.{form}" if f"{key}.{form}" in messages else f"{key}.other"
    return text(lang, chosen, escape=False, count=count, **values)


@cache
def _locale(language: str) -> Locale:
    return Locale.parse(language)
