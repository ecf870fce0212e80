"""Server-rendered HTML: the Jinja environment, its filters, and rendering a response."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

import jinja2
from aiohttp import web

import texts
from storage.models import Organization
from web_sign.state import SETTINGS, TEMPLATES
from web_sign.templating import Templates, WordsLoader
from workflows.quiet_hours import zone_of

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


def make_templates(*, url_prefix: str, directory: Path = TEMPLATE_DIR) -> Templates:
    """Templates with HTML autoescaping always on, their fixed words written in for each
    language (`web_sign.templating`); ``static_url`` busts caches by hash."""
    versions = {p.name: _digest(p) for p in STATIC_DIR.iterdir() if p.is_file()}

    def static_url(name: str) -> str:
        return f"{url_prefix}/static/{name}?v={versions[name]}"

    def environment(language: str) -> jinja2.Environment:
        templates = jinja2.Environment(
            loader=WordsLoader(directory, language),
            autoescape=True,
            auto_reload=False,
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        templates.globals.update(static_url=static_url, prefix=url_prefix)
        templates.filters.update(filesize=_size, when=_when)
        return templates

    return Templates({language: environment(language) for language in texts.LANGUAGES})


@jinja2.pass_context
def _when(context: Any, value: datetime) -> str:
    return texts.when(value, context.get("lang"), zone=context.get("zone", "UTC"))


def _organization(context: dict[str, Any]) -> Organization | None:
    """The organisation a page speaks for, when it names one."""
    organization = context.get("organization")
    if organization is None:
        organization = getattr(context.get("portal"), "organization", None)
    return organization if isinstance(organization, Organization) else None


def _zone(context: dict[str, Any]) -> str:
    """The clock a page's times are written on: its organisation's, else UTC."""
    organization = _organization(context)
    return str(zone_of(organization)) if organization is not None else "UTC"


@jinja2.pass_context
def _size(context: Any, value: int) -> str:
    return texts.size(value, context.get("lang"))


def human_size(value: int) -> str:
    """A size in English, for messages that are not yet in the reader's language."""
    return texts.size(value, texts.FALLBACK)


LANGUAGE_COOKIE = "inkpost_lang"
"""The language a visitor chose with a page's switcher, kept for the pages after it."""


def page_language(
    request: web.Request, *, known: str | None = None, default: str | None = None
) -> str:
    """The language of a page: the one just chosen with the switcher, else the one chosen
    before, else the reader's own (a recipient's or a party's), else what the browser
    asks for, else ``default`` (the organisation's), else English."""
    for chosen in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE), known):
        if chosen in texts.LANGUAGES:
            return str(chosen)
    asked = texts.negotiate(request.headers.get("Accept-Language"))
    return asked or (default if default in texts.LANGUAGES else None) or texts.FALLBACK


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def render(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    lang: str | None = None,
    switcher: bool = True,
    **context: Any,
) -> web.Response:
    """``template`` in the page's language (``lang``, else `page_language`), with ``t``
    for its words and, unless ``switcher`` is off, links to the other languages."""
    organization = _organization(context)
    language = lang or page_language(
        request, default=organization.default_language if organization else None
    )

    def t(key: str, **values: object) -> str:
        return texts.text(language, key, escape=False, **values)

    def pages(count: int) -> str:
        return texts.plural(language, "doc.pages", count)

    html = (
        request.app[TEMPLATES]
        .get_template(template, language)
        .render(
            lang=language,
            t=t,
            pages=pages,
            switch_to=_switcher(request, language) if switcher else [],
            zone=context.pop("zone", None) or _zone(context),
            **context,
        )
    )
    response = web.Response(
        text=html, status=status, content_type="text/html", charset="utf-8", headers=headers
    )
    if request.query.get("lang") in texts.LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            path="/",
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="Lax",
            secure=request.app[SETTINGS].public_url.startswith("https://"),
        )
    return response


def _switcher(request: web.Request, language: str) -> Sequence[tuple[str, str, str]]:
    """(code, name, this page in it) for every other language. The address is relative to
    the page ("?lang=pl"), so a page never prints its own link's token."""
    if not request.query:  # most pages: the same few links for every visit
        return _PLAIN_SWITCHERS[language]
    return [
        (code, name, "?" + urlencode({**request.query, "lang": code}))
        for code, name in texts.NAMES.items()
        if code != language
    ]


_PLAIN_SWITCHERS = {
    language: tuple(
        (code, name, "?" + urlencode({"lang": code}))
        for code, name in texts.NAMES.items()
        if code != language
    )
    for language in texts.LANGUAGES
}
"""The switcher of a page whose address has no query, in each language."""


class FormRefused(Exception):
    """A form posted without its page's token; ``errors.error_pages`` answers it."""


def form_refused(request: web.Request) -> NoReturn:
    """Refuse a POST without its page's form token: nothing changes, and the visitor gets
    a page saying so in their language (the error pages' middleware renders it)."""
    raise FormRefused(f"a {request.method} without its page's form token")


def readable_time(value: datetime) -> str:
    """'1 December 2026, 09:00 UTC'."""
    return texts.when(value.astimezone(UTC), texts.FALLBACK)
