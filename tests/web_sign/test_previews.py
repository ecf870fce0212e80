"""Page previews at /d/{token}/pages/{n}.png: rendered once, cached on disk, checked."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

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
