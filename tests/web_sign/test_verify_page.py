"""``/verify``: the upload form, a page per verdict, and the refusals (form token, size,
no file, no seal to check against)."""

from __future__ import annotations

import asyncio
import html
import io
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

import texts
from inkpost.errors import UserError
from inkpost.sample_pdf import make_pdf
from inkpost.server import load_seal
from inkpost.settings import Settings
from tests.conftest import Tenant
from tests.web_sign.browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, PHONE
from tests.web_sign.conftest import PUBLIC_URL, assert_security_headers
from tests.workflows.pdf_inputs import signed_pdf, with_a_page_added
from tests.workflows.test_verification import (
    appended_update,
    completed_request,
    flipped,
    sealed_elsewhere,
)
from web_sign import create_app
from web_sign.verify import AUTH_KEYS, COOKIE
from workflows.context import Env
from workflows.signing.completion import AUTH_LEVELS
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key

HEADLINES = {
    "sealed_and_matching": "The seal is intact and matches a completed request",
    "intact_but_unknown": "The seal is intact, but no request here matches",
    "modified": "This file was changed after it was sealed",
    "not_sealed": "This PDF carries no seal",
    "not_ours": "This PDF was not sealed by this installation",
    "not_a_pdf": "This file is not a PDF that can be checked",
}


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


@pytest.fixture(scope="module")
def other_seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("other") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Elsewhere seal"))


@pytest.fixture
def app(env: Env, cache_dir: Path, seal: SealKey) -> web.Application:
    return create_app(
        env=env,
        cache_dir=cache_dir,
        public_url=PUBLIC_URL,
        secret_key="verify-test-secret",
        seal_trust=seal.trust_anchors,
    )


@pytest.fixture
async def client(aiohttp_client: Any, app: web.Application) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(app)


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', text)
    assert found, text
    return found.group(1)


async def _form(client: TestClient) -> str:
    response = await client.get("/verify")
    assert response.status == 200
    return _csrf(await response.text())


async def _check(
    client: TestClient,
    data: bytes,
    *,
    filename: str = "contract-signed.pdf",
    csrf: str | None = None,
    status: int = 200,
) -> str:
    form = FormData(quote_fields=False)
    form.add_field("csrf", csrf if csrf is not None else await _form(client))
    form.add_field("pdf", io.BytesIO(data), filename=filename, content_type="application/pdf")
    response = await client.post("/verify", data=form)
    text = await response.text()
    assert response.status == status, text
    return text


def _state(text: str) -> str:
    found = re.search(r'data-state="([a-z_]+)"', text)
    assert found, text
    return found.group(1)


def _plain(text: str) -> str:
    """The page's text with tags dropped and entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


async def test_the_form_asks_for_a_pdf_with_a_token_bound_to_a_cookie(
    client: TestClient,
) -> None:
    response = await client.get("/verify")

    text = await response.text()
    assert response.status == 200
    assert 'enctype="multipart/form-data"' in text and 'type="file"' in text
    assert 'action="/verify"' in text and "up to 2 MB" in text
    assert _csrf(text)
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/verify"
    assert_security_headers(response.headers)
    assert response.headers["Cache-Control"] == "no-store"


async def test_the_sealed_pdf_shows_the_request_and_who_decided_when(
    client: TestClient, env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)

    text = await _check(client, done.sealed)

    assert _state(text) == "sealed_and_matching"
    plain = _plain(text)
    assert HEADLINES["sealed_and_matching"] in plain
    assert "“Supply agreement” of the request “Supply agreement 2027” by Acme Law" in plain
    assert done.ref not in plain  # staff's reference means nothing to a client
    assert "Sam Signer signed as signer on 23 November 2026, 12:00 UTC" in plain
    assert "Ada Approver approved as approver on 23 November 2026, 12:05 UTC" in plain
    assert "Identified by possession of the link" in plain
    assert "Intact, by this installation's seal" in plain
    assert "Vera Viewer" not in plain and "+46" not in plain
    assert "contract-signed.pdf" in plain


@pytest.mark.parametrize(
    ("variant", "state"),
    [
        ("original", "not_sealed"),
        ("flipped", "modified"),
        ("appended", "modified"),
        ("foreign", "not_ours"),
        ("unknown", "intact_but_unknown"),
        ("junk", "not_a_pdf"),
    ],
)
async def test_each_verdict_has_its_page(
    client: TestClient,
    env: Env,
    tenant: Tenant,
    seal: SealKey,
    other_seal: SealKey,
    variant: str,
    state: str,
) -> None:
    done = await completed_request(env, tenant, seal)
    uploads = {
        "original": lambda: done.original,
        "flipped": lambda: flipped(done.sealed, done.sealed.index(b"stream", 200) + 20),
        "appended": lambda: appended_update(done.sealed),
        "junk": lambda: os.urandom(2048),
    }
    if variant == "foreign":
        data = await sealed_elsewhere(done.original, other_seal)
    elif variant == "unknown":
        data = await sealed_elsewhere(make_pdf("Elsewhere", pages=1), seal)
    else:
        data = uploads[variant]()

    text = await _check(client, data)

    assert _state(text) == state
    plain = _plain(text)
    assert HEADLINES[state] in plain
    named = "Supply agreement 2027" in plain
    assert named == (variant == "appended") and done.ref not in plain
    if variant == "appended":
        assert "later edit of “Supply agreement”" in plain
        assert "Content was added after the last signature" in plain
    if variant == "flipped":
        assert "Broken: what it covers was changed" in plain
    if variant == "foreign":
        assert "Intact, but by a certificate this installation does not trust" in plain
        assert "Certificate: Elsewhere seal" in plain


async def test_party_names_are_escaped(
    client: TestClient, env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal, signer="<script>alert(1)</script> Sam")

    text = await _check(client, done.sealed, filename="<img src=x onerror=alert(1)>.pdf")

    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Sam" in text
    assert "&lt;img src=x onerror=alert(1)&gt;.pdf" in text


@pytest.mark.parametrize("token", ["missing", "wrong", "no cookie"])
async def test_a_post_without_the_forms_token_is_refused(
    client: TestClient, env: Env, tenant: Tenant, seal: SealKey, token: str
) -> None:
    done = await completed_request(env, tenant, seal)
    csrf = await _form(client)
    form = FormData()
    if token == "wrong":
        form.add_field("csrf", "0" * 64)
    elif token == "no cookie":
        form.add_field("csrf", csrf)
        client.session.cookie_jar.clear()
    form.add_field("pdf", done.sealed, filename="a.pdf", content_type="application/pdf")

    response = await client.post("/verify", data=form)

    text = await response.text()
    assert response.status == 403
    assert "This form has expired or did not come from this page" in _plain(text)
    assert "data-state" not in text and done.ref not in text
    assert _csrf(text)  # a fresh form to try again
    assert await _check(client, done.sealed, csrf=_csrf(text))


async def test_an_upload_over_the_limit_is_refused_with_413(client: TestClient, env: Env) -> None:
    too_big = b"%PDF-1.7\n" + b"0" * env.limits.max_upload_bytes

    text = await _check(client, too_big, status=413)

    assert "This file is too large: files up to 2 MB can be checked here." in _plain(text)
    assert "data-state" not in text


async def test_a_streamed_upload_without_a_length_is_cut_off_at_the_limit(
    client: TestClient, env: Env
) -> None:
    csrf = await _form(client)
    boundary = "inkpostboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="pdf"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield head
        chunk = b"0" * 65536
        while sent <= env.limits.max_upload_bytes + 10 * len(chunk):
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/verify",
        data=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status == 413
    assert "too large" in await response.text()


@pytest.mark.parametrize("upload", ["empty file", "no file", "urlencoded"])
async def test_a_form_without_a_file_asks_for_one(client: TestClient, upload: str) -> None:
    csrf = await _form(client)
    if upload == "urlencoded":
        response = await client.post("/verify", data={"csrf": csrf})
    else:
        form = FormData()
        form.add_field("csrf", csrf)
        if upload == "empty file":
            form.add_field("pdf", b"", filename="empty.pdf", content_type="application/pdf")
        response = await client.post("/verify", data=form)

    assert response.status == 400
    assert "Choose a PDF file to check." in await response.text()


async def test_without_a_seal_verification_is_unavailable(
    aiohttp_client: Any, env: Env, cache_dir: Path, tmp_path: Path
) -> None:
    app = create_app(env=env, cache_dir=cache_dir, public_url=PUBLIC_URL, seal_trust=None)
    client = await aiohttp_client(app)

    page = await client.get("/verify")
    posted = await client.post("/verify", data={"csrf": "x"})

    for response in (page, posted):
        assert response.status == 503
        text = await response.text()
        assert "Verification is unavailable right now" in text and 'type="file"' not in text


def test_the_server_trusts_the_seal_it_creates_on_first_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    trust = load_seal(settings).trust_anchors

    assert len(trust) == 2  # the seal, and the issuer of the organisations' default seals
    assert (tmp_path / "data" / "seal" / "seal.pem").exists()
    assert (tmp_path / "data" / "seal" / "issuer.pem").exists()
    again = load_seal(settings).trust_anchors
    assert [c.dump() for c in again] == [c.dump() for c in trust]


def test_a_seal_that_cannot_be_loaded_stops_the_server_with_one_line(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", seal_cert=tmp_path / "missing.pem")

    with pytest.raises(UserError, match="INKPOST_SEAL_CERT is set but INKPOST_SEAL_KEY is not"):
        load_seal(settings)


@pytest.mark.browser
@pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"Debian's chromium is not installed at {CHROMIUM}")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_phone_browser_uploads_without_javascript_and_reads_the_verdict(
    app: web.Application, env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    done = await completed_request(env, tenant, seal)
    sealed_file = tmp_path / "contract-signed.pdf"
    sealed_file.write_bytes(done.sealed)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
            )
            try:
                context = await browser.new_context(
                    viewport=PHONE, is_mobile=True, java_script_enabled=False
                )
                page = await context.new_page()
                await page.goto(f"{base}/verify")
                await page.set_input_files("#pdf", str(sealed_file))
                await page.get_by_role("button", name="Check the seal").click()

                await expect(page.get_by_role("heading", level=1)).to_have_text(
                    HEADLINES["sealed_and_matching"]
                )
                decisions = page.locator(".decisions")
                await expect(
                    decisions.get_by_text("Ada Approver approved as approver")
                ).to_be_visible()
                width = await page.evaluate("document.documentElement.scrollWidth")
                assert width <= PHONE["width"]
                await page.screenshot(path=str(tmp_path / "verdict.png"), full_page=True)
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    "body",
    [b"not multipart at all", b"--b\r\nContent-Disposition: form-data\r\n\r\nunterminated"],
    ids=["garbage", "unterminated"],
)
async def test_a_malformed_upload_is_refused_with_a_message(
    client: TestClient, body: bytes
) -> None:
    await _form(client)

    response = await client.post(
        "/verify", data=body, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )

    assert response.status == 400
    assert "could not be read" in await response.text()


@pytest.mark.parametrize(
    ("language", "heading", "label", "headline", "decision"),
    [
        (
            "pl",
            "Sprawdź zapieczętowany plik PDF",
            "Plik PDF (do 2 MB)",
            "Pieczęć jest nienaruszona i pasuje do zakończonej prośby o podpis",
            "Sam Signer (podpisujący) — podpisano 23 listopada 2026, 12:00 UTC",
        ),
        (
            "ru",
            "Проверка запечатанного PDF",
            "Файл PDF (до 2 МБ)",
            "Печать цела и соответствует завершённому запросу",
            "Sam Signer (подписант) — подписано 23 ноября 2026, 12:00 UTC",
        ),
    ],
)
async def test_the_form_and_the_verdict_speak_the_readers_language(
    client: TestClient,
    env: Env,
    tenant: Tenant,
    seal: SealKey,
    language: str,
    heading: str,
    label: str,
    headline: str,
    decision: str,
) -> None:
    done = await completed_request(env, tenant, seal)
    client.session.headers["Accept-Language"] = language

    form = await (await client.get("/verify")).text()
    verdict = await _check(client, done.sealed)
    refused = await _check(client, b"", status=400)

    assert f'<html lang="{language}">' in form and f">{heading}</h1>" in form
    assert label in _plain(form)
    assert f'<html lang="{language}">' in verdict
    plain = _plain(verdict)
    assert headline in plain and decision in plain
    assert "Supply agreement 2027" in plain and done.ref not in plain
    for english in ("Identified by", "signed as", "The request", "Check another file", "Sealed"):
        assert english not in plain, english
    assert "Choose a PDF file" not in refused and f'<html lang="{language}">' in refused


async def test_a_chosen_language_beats_the_browsers_and_is_kept_for_the_verdict(
    client: TestClient, env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)
    client.session.headers["Accept-Language"] = "ru"

    chosen = await (await client.get("/verify?lang=sv")).text()
    verdict = await _check(client, done.sealed)

    assert '<html lang="sv">' in chosen and "Kontrollera en förseglad PDF" in chosen
    assert '<html lang="sv">' in verdict
    assert "Förseglingen är intakt och hör till en slutförd begäran" in _plain(verdict)


def test_every_way_of_identifying_a_decider_has_words_in_every_language() -> None:
    for language in texts.LANGUAGES:
        assert set(AUTH_KEYS.values()) <= texts.catalogue(language).keys(), language
    assert len(AUTH_KEYS) == len(AUTH_LEVELS)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("language", ["en", "pl", "ru", "sv"])
async def test_a_signature_made_before_the_seal_is_reported_with_its_state(
    client: TestClient, env: Env, seal: SealKey, other_seal: SealKey, language: str
) -> None:
    """A document signed by someone else, sealed here afterwards: the seal holds, and the
    earlier signature is valid; once a page was added to it before sealing, it is not."""
    signed = await asyncio.to_thread(signed_pdf, other_seal)
    damaged = await asyncio.to_thread(with_a_page_added, signed)
    valid = await sealed_elsewhere(signed, seal)
    modified = await sealed_elsewhere(damaged, seal)
    client.session.headers["Accept-Language"] = language

    pages = [_plain(await _check(client, data)) for data in (valid, modified)]

    said = texts.catalogue(language)
    assert said["verify.sig.earlier.valid"] in pages[0]
    assert said["verify.earlier_not_valid"] not in pages[0]
    assert said["verify.sig.earlier.modified"] in pages[1]
    assert said["verify.earlier_not_valid"] in pages[1]
    assert said["verify.headline.intact_but_unknown"] in pages[1]  # the seal itself holds
