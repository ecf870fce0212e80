"""The document page at /d/{token}: what it shows, what it records, how it is sent."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from inkpost.sample_pdf import make_pdf
from tests.conftest import START, Tenant
from tests.web_sign.conftest import (
    PUBLIC_URL,
    Link,
    assert_security_headers,
    events,
    make_link,
)
from web_sign import create_app
from web_sign.pages import human_size
from workflows.context import Env


async def test_page_shows_the_document_its_facts_previews_and_download(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(
        env,
        tenant,
        title="Loan agreement",
        category="contract",
        available_until=START + timedelta(days=30),
    )

    response = await client.get(link.page)

    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    assert '<h1 class="title">Loan agreement</h1>' in html
    assert "Acme Law" in html
    assert "contract" in html
    assert f"{human_size(link.document.size)} · 3 pages" in html
    assert link.document.ref not in html  # a reference means something to staff, not clients
    assert "23 December 2026, 12:00 UTC" in html
    previews = re.findall(r'<img src="([^"]+)" loading="lazy"', html)
    assert previews == [link.preview(n) for n in (1, 2, 3)]
    assert f'href="{link.file}"' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert re.search(r'<link rel="stylesheet" href="/static/style\.css\?v=\w+">', html)


async def test_page_records_the_visit_with_ip_and_user_agent(
    client: TestClient, env: Env, link: Link
) -> None:
    response = await client.get(link.page, headers={"User-Agent": "PhoneBrowser/1.0"})
    assert response.status == 200

    opened = await events(env, "document.opened")
    assert len(opened) == 1
    assert opened[0].ip == "127.0.0.1"
    assert opened[0].user_agent == "PhoneBrowser/1.0"
    assert opened[0].share_id == link.share.id


async def test_head_checks_the_link_and_records_nothing(
    client: TestClient, env: Env, link: Link
) -> None:
    response = await client.head(link.page)

    assert response.status == 200
    assert await events(env, "document.opened") == []


async def test_page_is_never_cached_and_carries_security_headers(
    client: TestClient, link: Link
) -> None:
    response = await client.get(link.page)

    assert response.headers["Cache-Control"] == "no-store"
    assert_security_headers(response.headers)


async def test_titles_are_html_escaped(client: TestClient, env: Env, tenant: Tenant) -> None:
    link = await make_link(env, tenant, title="<script>alert(1)</script>")

    html = await (await client.get(link.page)).text()

    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_a_long_pdf_previews_its_first_twenty_pages_and_says_so(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, data=make_pdf("Long report", pages=23))

    html = await (await client.get(link.page)).text()

    assert len(re.findall(r'<img src="[^"]+" loading="lazy"', html)) == 20
    assert "Showing the first 20 of 23 pages" in html


async def test_a_file_without_previews_still_offers_its_download(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(
        env, tenant, data=b"Plain notes\n", filename="notes.txt", category="other"
    )

    html = await (await client.get(link.page)).text()

    assert "<img" not in html
    assert "There is no preview of this kind of file" in html
    assert f'href="{link.file}"' in html


async def test_the_stylesheet_is_served_with_security_headers(client: TestClient) -> None:
    response = await client.get("/static/style.css")

    assert response.status == 200
    assert response.content_type == "text/css"
    assert "max-age" in response.headers["Cache-Control"]
    assert_security_headers(response.headers)


async def test_forwarded_for_is_trusted_only_when_asked(
    aiohttp_client: Any, env: Env, link: Link, tmp_path: Path
) -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    for trust in (False, True):
        app = create_app(
            env=env,
            cache_dir=tmp_path / "cache",
            public_url=PUBLIC_URL,
            trust_forwarded_for=trust,
        )
        client = await aiohttp_client(app)
        assert (await client.get(link.page, headers=forwarded)).status == 200

    opened = await events(env, "document.opened")
    assert [e.ip for e in opened] == ["127.0.0.1", "198.51.100.7"]


async def test_links_carry_the_path_of_the_public_url(
    aiohttp_client: Any, env: Env, link: Link, tmp_path: Path
) -> None:
    app = create_app(
        env=env, cache_dir=tmp_path / "cache", public_url="https://docs.example.com/portal/"
    )
    client = await aiohttp_client(app)

    html = await (await client.get(link.page)).text()

    assert f'href="/portal/d/{link.token}/file"' in html
    assert f'src="/portal/d/{link.token}/pages/1.png"' in html
    assert 'href="/portal/static/style.css?v=' in html
