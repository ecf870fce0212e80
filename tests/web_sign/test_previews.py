"""Page previews at /d/{token}/pages/{n}.png: rendered once, cached on disk, checked."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

import texts
from storage.models import Document
from tests.conftest import Tenant
from tests.web_sign.conftest import Link, assert_security_headers, events, make_link
from web_sign import previews
from workflows.context import Env

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_a_page_renders_to_a_png_about_800_pixels_wide(
    client: TestClient, env: Env, link: Link, cache_dir: Path
) -> None:
    response = await client.get(link.preview(2))

    assert response.status == 200
    assert response.content_type == "image/png"
    width, height = png_size(await response.read())
    assert width == 800 and 1100 < height < 1150  # A4
    assert response.headers["Cache-Control"].startswith("private, max-age=")
    assert int(response.headers["Cache-Control"].rsplit("=", 1)[1]) >= 86400
    assert_security_headers(response.headers)
    cached = cache_dir / "previews" / link.document.sha256 / "2.png"
    assert cached.is_file()
    assert not list((cache_dir / "tmp").iterdir()), "no temporary file is left behind"
    assert await events(env, "document.opened") == [], "a preview records nothing"


async def test_a_cached_page_is_served_without_rendering_again(
    client: TestClient, link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await (await client.get(link.preview(1))).read()

    def no_rendering(*args: object) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(previews, "render_page", no_rendering)
    second = await client.get(link.preview(1))

    assert second.status == 200
    assert await second.read() == first


async def test_concurrent_requests_for_one_page_render_it_once(
    client: TestClient, link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = previews.render_page

    def counting(*args: object) -> None:
        calls.append(args)
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(previews, "render_page", counting)

    responses = await asyncio.gather(*(client.get(link.preview(3)) for _ in range(5)))

    assert [r.status for r in responses] == [200] * 5
    assert len(calls) == 1


@pytest.mark.parametrize("number", ["0", "4", "21", "99999"])
async def test_a_page_that_is_not_previewed_answers_404(
    client: TestClient, link: Link, number: str
) -> None:
    response = await client.get(f"/d/{link.token}/pages/{number}.png")

    assert response.status == 404
    assert "Page not found" in await response.text()


async def test_a_file_that_is_not_a_pdf_has_no_previews(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, data=b"Plain notes\n", filename="notes.txt")

    assert (await client.get(link.preview(1))).status == 404


@pytest.mark.parametrize("language", texts.LANGUAGES)
@pytest.mark.parametrize("page_count", [3, None, 25])
def test_each_figure_has_the_words_t_would_give(language: str, page_count: int | None) -> None:
    title = 'Tom & "Jerry\'s" <b> {0} {title} ✓'
    document = Document(title=title, media_type="application/pdf", page_count=page_count)

    shown = previews.figures(document, "/d/tok/pages", language)

    count = min(page_count or previews.MAX_PREVIEW_PAGES, previews.MAX_PREVIEW_PAGES)
    assert [figure.url for figure in shown] == [
        f"/d/tok/pages/{n}.png" for n in range(1, count + 1)
    ]
    for n, figure in enumerate(shown, start=1):
        assert figure.alt == texts.text(
            language, "doc.page_alt", escape=False, number=n, title=title
        )
        caption = (
            texts.text(language, "doc.page_of", escape=False, number=n, total=page_count)
            if page_count
            else texts.text(language, "doc.page", escape=False, number=n)
        )
        assert figure.caption == caption


def test_a_document_that_is_not_a_pdf_has_no_figures() -> None:
    document = Document(title="Photo", media_type="image/jpeg", page_count=1)
    assert previews.figures(document, "/d/tok/pages", "en") == []


async def test_the_page_prints_each_figure_escaped(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    link = await make_link(env, tenant, title='Lease <2027> & "terms"')

    html = await (await client.get(f"/d/{link.token}")).text()

    escaped = "Lease &lt;2027&gt; &amp; &#34;terms&#34;"
    for n in (1, 2, 3):
        assert f'src="/d/{link.token}/pages/{n}.png"' in html
        assert f'alt="Page {n} of {escaped}"' in html
        assert f"<figcaption>Page {n} of 3</figcaption>" in html
    assert "Lease <2027>" not in html
