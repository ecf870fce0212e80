"""Server-rendered HTML: the Jinja environment, its filters, and rendering a response."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from web_sign.state import TEMPLATES
from workflows.documents.history import file_size as human_size

HERE = Path(__file__).parent
TEMPLATE_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


def make_templates(*, url_prefix: str) -> jinja2.Environment:
    """Templates with HTML autoescaping always on; ``static_url`` busts caches by hash."""
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    versions = {p.name: _digest(p) for p in STATIC_DIR.iterdir() if p.is_file()}

    def static_url(name: str) -> str:
        return f"{url_prefix}/static/{name}?v={versions[name]}"

    templates.globals.update(static_url=static_url, prefix=url_prefix)
    templates.filters.update(filesize=human_size, when=readable_time)
    return templates


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def render(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> web.Response:
    html = request.app[TEMPLATES].get_template(template).render(**context)
    response = web.Response(text=html, status=status, content_type="text/html", headers=headers)
    response.charset = "utf-8"
    return response


def form_refused(request: web.Request, *, reason: str) -> web.Response:
    """A POST without its page's form token: a page saying so, and nothing changes."""
    return render(
        request, "error.html", status=403, heading="This form cannot be accepted", message=reason
    )


def readable_time(value: datetime) -> str:
    """'1 December 2026, 09:00 UTC'."""
    value = value.astimezone(UTC)
    return f"{value.day} {value:%B %Y, %H:%M} UTC"
