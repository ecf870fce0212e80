"""The client portal's journeys in a real Chromium, for a recipient who reads Polish and for
one who reads Russian: signing in by a mailed link, their documents (shared directly, in a
space, in a shared cabinet), sending a file back, turning notices off in the portal or in
one click from a mail, and deciding a signature request. Every word looked for on a page
or in a mail comes from the catalogues.

The browser asks for English pages, except before anyone is signed in (the sign-in pages
can go only by the browser's language), so a page in the recipient's language shows that
their own choice won.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from playwright.async_api import Browser, Locator, Page, ViewportSize, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from telegram import Bot

import texts
from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.telegram.sender import TelegramSender
from inkpost.sample_pdf import make_pdf
from storage.db import make_engine
from storage.models import Document, Recipient
from storage.rows import id_of
from tests.conftest import STAFF, Tenant, make_tenant
from tests.fakes.smtp import SmtpServer
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import add_person, link_chat, stored_notifications, upload
from tests.web_sign.browser import BROWSER_TESTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve
from tests.web_sign.signing_helpers import decisions, envelope
from web_sign.portal_session import SESSION_COOKIE
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Channel, Hold, Kind, Preference, Status, Via
from workflows.people import organizations, preferences, spaces
from workflows.people.linking import ChatIdentity
from workflows.people.preferences import Choice
from workflows.people.recipients import edit_recipient
from workflows.portal import sessions
from workflows.sharing import sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing.creation import NewParty

# One Chromium serves the whole module, so its tests and the async fixtures they use run
# on the module's event loop (the fixtures below stand in for tests/conftest.py's).
pytestmark = [*BROWSER_TESTS, pytest.mark.asyncio(loop_scope="module")]

RITA = "rita@acme-client.test"
ORG = "Acme Law"
CHAT = ChatIdentity(chat_id=4242)
ENGLISH_BROWSER = "en-GB"
BROWSER_LOCALES = {"pl": "pl-PL", "ru": "ru-RU"}
WAIT_MS = 5000
"""How long a click or a fill waits for its element (Playwright's own default is 30 s)."""


@dataclass(frozen=True)
class Words:
    """What a client writing in one language names their things."""

    letter: str
    minutes: str
    space: str
    colleague: str
    payslips: str
    returned: str
    filename: str
    request: str
    annex: str


WORDS = {
    "pl": Words(
        letter="Umowa o współpracy",
        minutes="Protokół z posiedzenia",
        space="Rada nadzorcza",
        colleague="Łucja Kowalska",
        payslips="Paski płacowe za listopad",
        returned="Podpisany aneks",
        filename="aneks nr 2.pdf",
        request="Zgoda zarządu na pożyczkę",
        annex="Aneks",
    ),
    "ru": Words(
        letter="Договор о сотрудничестве",
        minutes="Протокол заседания",
        space="Наблюдательный совет",
        colleague="Ольга Петрова",
        payslips="Расчётные листки за ноябрь",
        returned="Подписанное приложение",
        filename="приложение 2.pdf",
        request="Согласие правления на заём",
        annex="Приложение",
    ),
}


def say(lang: str, key: str, **values: object) -> str:
    return texts.text(lang, key, escape=False, **values)


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(params=sorted(BROWSER_LOCALES))
def lang(request: pytest.FixtureRequest) -> str:
    """The language of the recipient walking the portal."""
    return str(request.param)


@pytest_asyncio.fixture(loop_scope="module")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(loop_scope="module")
async def tenant(env: Env, lang: str) -> Tenant:
    """The usual tenant, its recipient Rita reading ``lang``."""
    made = await make_tenant(env)
    await edit_recipient(
        env, org_id=made.org_id, actor=STAFF, recipient_id=made.recipient_id, language=lang
    )
    return made


@pytest_asyncio.fixture(loop_scope="module")
async def telegram_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeTelegramApi]:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # see tests/fakes/telegram_api.py
    async with FakeTelegramApi() as fake:
        yield fake
    assert not fake.internal_errors, fake.internal_errors


@pytest_asyncio.fixture(loop_scope="module")
async def base_url(app: web.Application) -> AsyncIterator[str]:
    async for url in serve(app):
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    async with _profile(browser, ENGLISH_BROWSER) as fresh:
        yield fresh


@contextlib.asynccontextmanager
async def _profile(browser: Browser, locale: str) -> AsyncIterator[Page]:
    """The page of a fresh phone-sized browser profile that asks for pages in ``locale``."""
    phone = ViewportSize(width=PHONE["width"], height=PHONE["height"])
    context = await browser.new_context(viewport=phone, locale=locale)
    context.set_default_timeout(WAIT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


# -- helpers ---------------------------------------------------------------------------------


async def _share(env: Env, tenant: Tenant, title: str, *, recipient_id: int | None = None) -> str:
    """A document shared by Stella with Rita (or ``recipient_id``): its personal link."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    made = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=id_of(document),
        recipient_id=tenant.recipient_id if recipient_id is None else recipient_id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    assert made.token is not None
    return made.token


async def _enter_portal(page: Page, env: Env, base_url: str, link: str) -> None:
    """Sign Rita in to the portal in this browser as the "All your documents" button on the
    page of ``link``, a personal link of hers, does; and open the portal."""
    opened = await sessions.open_from_link(env, link, visitor=Visitor(ip=None, user_agent=None))
    await page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": opened.token, "domain": "127.0.0.1", "path": "/me"}]
    )
    await page.goto(f"{base_url}/me")


async def _deliver(
    env: Env, base_url: str, smtp_server: SmtpServer, *, bot: Bot | None = None
) -> None:
    """Run the recipients' delivery worker until nothing for recipients is pending (moving
    the tests' clock on to the next row due): by mail to the local SMTP server, and by
    Telegram through ``bot`` when given."""
    worker = RecipientDelivery(
        env,
        public_url=base_url,
        mail=MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port)),
        telegram=TelegramSender(bot, env) if bot is not None else None,
    )
    for _ in range(40):  # a few rounds: a chat's messages are paced a second apart
        await worker.run_once()
        pending = [
            row
            for row in await stored_notifications(env)
            if row.channel == Channel.RECIPIENT and row.status == Status.PENDING
        ]
        if not pending:
            return
        assert isinstance(env.clock, FixedClock)
        env.clock.at = max(env.clock.at, min(row.next_attempt_at for row in pending))
        # The fake Bot API paces a chat by the real clock (one message a second): when the
        # browser steps between two notices took less, the second waits for it.
        await asyncio.sleep(0.1)
    raise AssertionError("notifications to recipients were still pending after 40 rounds")


def _mail(smtp_server: SmtpServer, subject: str) -> str:
    """The body of the one mail caught with ``subject``."""
    [body] = [m.get_content() for m in smtp_server.messages if m["Subject"] == subject]
    return str(body)


async def _rita(env: Env, tenant: Tenant) -> Recipient:
    async with env.reads() as session:
        person = await session.get(Recipient, tenant.recipient_id)
    assert person is not None
    return person


def _checkbox(page: Page, lang: str, kind: Preference, channel: Via) -> Locator:
    """The portal's box for one kind of notice by one channel."""
    name = say(
        lang,
        "portal.settings.by",
        kind=say(lang, f"notifications.kind.{kind}"),
        channel=say(lang, f"portal.settings.{channel}"),
    )
    return page.get_by_label(name, exact=True)


def _signing_control(
    page: Page,
    lang: str,
    *,
    role: Literal["button", "checkbox", "textbox"],
    english: str | None,
    form: str,
) -> Locator:
    """A control of the signing page: by its role and its name in ``lang`` when the
    catalogue holds the words it says in English; in any case by ``form``, the selector of
    the form field or button the server reads (which no translation changes)."""
    by_form = page.locator(form)
    names = {say(lang, k) for k, v in texts.catalogue("en").items() if v == english}
    if english is None or not names:
        return by_form
    pattern = re.compile("^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$")
    return page.get_by_role(role, name=pattern).or_(by_form).first


# -- the journeys ----------------------------------------------------------------------------


async def test_a_mailed_sign_in_link_signs_in_once_after_its_button(
    browser: Browser,
    env: Env,
    tenant: Tenant,
    base_url: str,
    smtp_server: SmtpServer,
    lang: str,
) -> None:
    async with _profile(browser, BROWSER_LOCALES[lang]) as page:
        await page.goto(f"{base_url}/me")
        await expect(page).to_have_url(f"{base_url}/me/sign-in")
        await expect(page.locator("html")).to_have_attribute("lang", lang)

        await page.get_by_label(say(lang, "portal.sign_in.email")).fill(RITA)
        await page.get_by_role("button", name=say(lang, "portal.sign_in.submit")).click()
        await expect(
            page.get_by_role("heading", name=say(lang, "portal.sent.title"))
        ).to_be_visible()
        minutes = int(sessions.LINK_TTL.total_seconds() // 60)
        await expect(page.get_by_role("status")).to_have_text(
            say(lang, "portal.sent.body", email=RITA, minutes=minutes)
        )

        await _deliver(env, base_url, smtp_server)
        [mail] = await smtp_server.wait_for(1)
        assert mail["To"] == RITA
        assert mail["Subject"] == say(lang, "email.sign_in.subject", org=ORG)
        [link] = re.findall(rf"{re.escape(base_url)}/me/sign-in/\S+", mail.get_content())

        await page.goto(link)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        held = [c for c in await page.context.cookies() if c["name"] == SESSION_COOKIE]
        assert held == [], "opening a sign-in link alone signed in"
        await page.get_by_role("button", name=say(lang, "portal.confirm.submit")).click()
        await expect(page).to_have_url(f"{base_url}/me")
        await expect(
            page.get_by_role("heading", name=say(lang, "portal.heading", name="Rita Recipient"))
        ).to_be_visible()
        await expect(page.locator("html")).to_have_attribute("lang", lang)

        await page.goto(link)
        async with page.expect_response(link) as answer:
            await page.get_by_role("button", name=say(lang, "portal.confirm.submit")).click()
        assert (await answer.value).status == 410, "a sign-in link worked twice"


async def test_documents_shared_directly_and_in_a_space_are_listed_and_the_space_narrows_them(
    page: Page, env: Env, tenant: Tenant, base_url: str, lang: str
) -> None:
    words = WORDS[lang]
    link = await _share(env, tenant, words.letter)
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name=words.space, client_id=tenant.client_id,
        member_ids=[tenant.recipient_id],
    )  # fmt: skip
    minutes = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, title=words.minutes
    )
    await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(minutes), space_id=id_of(space)
    )

    await _enter_portal(page, env, base_url, link)

    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(
        page.get_by_role("heading", name=say(lang, "portal.documents.count", count=2))
    ).to_be_visible()
    await expect(page.get_by_role("link", name=words.letter)).to_be_visible()
    await expect(page.get_by_role("link", name=words.minutes)).to_be_visible()
    await expect(
        page.get_by_text(say(lang, "portal.documents.in", space=words.space))
    ).to_have_count(1)

    spaces_section = page.get_by_role("region", name=say(lang, "portal.spaces.heading"))
    await spaces_section.get_by_role("link", name=words.space).click()
    await expect(
        page.get_by_role("heading", name=say(lang, "portal.documents.count", count=1))
    ).to_be_visible()
    await expect(page.get_by_role("link", name=words.minutes)).to_be_visible()
    await expect(page.get_by_role("link", name=words.letter)).to_have_count(0)

    space_filter = page.get_by_label(say(lang, "portal.filter.space"), exact=True)
    await expect(space_filter.locator("option:checked")).to_have_text(words.space)
    await space_filter.select_option(label=say(lang, "portal.filter.all"))
    await page.get_by_role("button", name=say(lang, "portal.filter.show")).click()
    await expect(page.get_by_role("link", name=words.letter)).to_be_visible()
    await expect(page.get_by_role("link", name=words.minutes)).to_be_visible()


async def test_a_shared_cabinet_shows_a_colleagues_document_found_by_their_name(
    page: Page, env: Env, tenant: Tenant, base_url: str, lang: str
) -> None:
    words = WORDS[lang]
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    colleague = await add_person(
        env, tenant, name=words.colleague, email="colleague@acme-client.test", language=lang
    )
    link = await _share(env, tenant, words.letter)
    await _share(env, tenant, words.payslips, recipient_id=colleague)
    show = page.get_by_role("button", name=say(lang, "portal.filter.show"))
    only_mine = page.get_by_label(say(lang, "portal.filter.mine"), exact=True)

    await _enter_portal(page, env, base_url, link)
    await expect(page.get_by_role("link", name=words.payslips)).to_be_visible()
    await expect(
        page.get_by_text(say(lang, "portal.documents.for", name=words.colleague))
    ).to_be_visible()

    await only_mine.check()
    await show.click()
    await expect(page.get_by_role("link", name=words.letter)).to_be_visible()
    await expect(page.get_by_role("link", name=words.payslips)).to_have_count(0)

    await only_mine.uncheck()
    # Typed as people type a name into a search box: in small letters, first name only.
    await page.get_by_label(say(lang, "portal.filter.colleague")).fill(
        words.colleague.split()[0].lower()
    )
    await show.click()
    await expect(page.get_by_role("link", name=words.payslips)).to_be_visible()
    await expect(page.get_by_role("link", name=words.letter)).to_have_count(0)

    await page.get_by_role("link", name=words.payslips).click()
    await expect(page.get_by_role("heading", name=words.payslips)).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", lang)


async def test_a_file_sent_back_from_the_portal_becomes_an_inbound_document(
    page: Page, env: Env, tenant: Tenant, base_url: str, lang: str
) -> None:
    words = WORDS[lang]
    link = await _share(env, tenant, words.letter)
    content = make_pdf(words.returned, pages=1)

    await _enter_portal(page, env, base_url, link)
    limit = texts.size(env.limits.max_upload_bytes, lang)
    await page.get_by_label(say(lang, "portal.return.title")).fill(words.returned)
    await page.get_by_label(say(lang, "portal.return.file", limit=limit)).set_input_files(
        {"name": words.filename, "mimeType": "application/pdf", "buffer": content}
    )
    await page.get_by_role("button", name=say(lang, "portal.return.submit", org=ORG)).click()

    await expect(page).to_have_url(f"{base_url}/me?sent=1")
    await expect(page.get_by_role("status")).to_have_text(say(lang, "portal.notice.sent"))
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    async with env.reads() as session:
        [returned] = (
            await session.exec(
                select(Document).where(Document.uploaded_by_recipient_id == tenant.recipient_id)
            )
        ).all()
    assert (returned.title, returned.filename, returned.direction, returned.size) == (
        words.returned, words.filename, "inbound", len(content)
    )  # fmt: skip
    assert returned.client_id == tenant.client_id
    [told] = await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED)
    assert (told.channel, told.target) == (Channel.SLACK, f"staff:{tenant.staff_id}")


async def test_new_documents_turned_off_by_email_go_by_telegram_and_then_nowhere(
    page: Page,
    env: Env,
    tenant: Tenant,
    base_url: str,
    smtp_server: SmtpServer,
    telegram_api: FakeTelegramApi,
    lang: str,
) -> None:
    words = WORDS[lang]
    telegram_api.register_chat(CHAT.chat_id)
    await link_chat(env, tenant, chat=CHAT)
    link = await _share(env, tenant, words.letter)
    by_mail = _checkbox(page, lang, Preference.SHARED, Via.EMAIL)
    by_telegram = _checkbox(page, lang, Preference.SHARED, Via.TELEGRAM)
    save = page.get_by_role("button", name=say(lang, "portal.settings.save"))
    saved = page.get_by_role("status")

    async with telegram_api.bot() as bot:
        await _deliver(env, base_url, smtp_server, bot=bot)
        assert len(telegram_api.messages_to(CHAT.chat_id)) == 1

        await _enter_portal(page, env, base_url, link)
        await expect(by_mail).to_be_checked()
        await by_mail.uncheck()
        await save.click()
        await expect(saved).to_have_text(say(lang, "portal.notice.saved"))
        await expect(by_mail).not_to_be_checked()
        await expect(by_telegram).to_be_checked()
        rita = await _rita(env, tenant)
        assert preferences.way_for(rita, Preference.SHARED) == Choice(Via.TELEGRAM)
        assert preferences.wants(rita, Preference.REMINDER, Via.EMAIL)

        await _share(env, tenant, f"{words.annex} 1")
        await _deliver(env, base_url, smtp_server, bot=bot)
        *_, latest = telegram_api.messages_to(CHAT.chat_id)
        assert f"{words.annex} 1" in (latest.text or "")
        row = (await stored_notifications(env, kind=Kind.DOCUMENT_SHARED))[-1]
        assert (row.status, row.delivered_via) == (Status.SENT, Via.TELEGRAM)

        await by_telegram.uncheck()
        await save.click()
        await expect(saved).to_have_text(say(lang, "portal.notice.saved"))
        await expect(by_telegram).not_to_be_checked()
        choice = preferences.way_for(await _rita(env, tenant), Preference.SHARED)
        assert choice.way == Hold.CANCEL

        await _share(env, tenant, f"{words.annex} 2")
        await _deliver(env, base_url, smtp_server, bot=bot)
    row = (await stored_notifications(env, kind=Kind.DOCUMENT_SHARED))[-1]
    assert (row.status, row.delivered_via, row.last_error) == (
        Status.CANCELLED, None, choice.reason
    )  # fmt: skip
    assert len(telegram_api.messages_to(CHAT.chat_id)) == 2
    assert smtp_server.messages == [], "a notice went by mail after mail was turned off"


async def test_the_unsubscribe_link_of_a_share_mail_turns_those_mails_off(
    page: Page,
    env: Env,
    tenant: Tenant,
    base_url: str,
    smtp_server: SmtpServer,
    lang: str,
) -> None:
    words = WORDS[lang]
    await _share(env, tenant, words.letter)
    await _deliver(env, base_url, smtp_server)
    [mail] = await smtp_server.wait_for(1)
    assert words.letter in mail["Subject"]
    body = mail.get_content()
    pattern = re.escape(say(lang, "email.unsubscribe", link="\0")).replace("\0", r"(\S+)")
    [link] = re.findall(pattern, body)
    assert mail["List-Unsubscribe"].strip() == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link.startswith(f"{base_url}/me/unsubscribe/")

    await page.goto(link)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.get_by_role("heading", name=say(lang, "unsubscribe.ask"))).to_be_visible()
    assert preferences.wants(await _rita(env, tenant), Preference.SHARED, Via.EMAIL), (
        "opening the link alone turned mails off"
    )
    await page.get_by_role("button", name=say(lang, "unsubscribe.submit")).click()
    await expect(page.get_by_role("heading", name=say(lang, "unsubscribe.done"))).to_be_visible()
    kind = say(lang, "notifications.kind.document.shared")
    await expect(page.get_by_role("status")).to_have_text(
        say(lang, "unsubscribe.done_body", kind=kind, name="Rita Recipient")
    )
    rita = await _rita(env, tenant)
    assert not preferences.wants(rita, Preference.SHARED, Via.EMAIL)
    assert preferences.wants(rita, Preference.SHARED, Via.TELEGRAM)
    assert preferences.wants(rita, Preference.SIGNATURE, Via.EMAIL)

    await preferences.set_preferences(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
        choices={(Via.EMAIL, Preference.SHARED.value): True},
    )  # fmt: skip
    async with (
        aiohttp.ClientSession() as mail_program,
        mail_program.post(
            link,
            data="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as answer,
    ):
        assert answer.status == 200
    assert not preferences.wants(await _rita(env, tenant), Preference.SHARED, Via.EMAIL)


async def test_a_pending_approval_is_decided_from_the_portal(
    page: Page,
    env: Env,
    tenant: Tenant,
    base_url: str,
    smtp_server: SmtpServer,
    lang: str,
) -> None:
    words = WORDS[lang]
    asked = await envelope(
        env,
        tenant,
        [NewParty(role="approver", recipient_id=tenant.recipient_id)],
        titles=(words.letter,),
        title=words.request,
    )
    await _enter_portal(page, env, base_url, asked.tokens["Rita Recipient"])
    to_decide = page.get_by_role("region", name=say(lang, "portal.decide.heading"))
    await expect(to_decide.get_by_text(say(lang, "portal.role.approver"))).to_be_visible()

    await to_decide.get_by_role("link", name=words.request).click()
    await expect(page).to_have_url(re.compile(rf"^{re.escape(base_url)}/s/[\w-]+$"))
    signing_page = page.url
    await expect(page.locator("html")).to_have_attribute("lang", lang)

    # Whoever decides for Rita confirms it is her with a code sent to her address.
    async with page.expect_response(f"{signing_page}/code") as sent:
        await _signing_control(
            page, lang, role="button", english="Send me a code",
            form='form[action$="/code"] button[type="submit"]',
        ).click()  # fmt: skip
    assert (await sent.value).ok
    await _deliver(env, base_url, smtp_server)
    await smtp_server.wait_for(2)  # the invitation, and the code
    code_mail = _mail(
        smtp_server, say(lang, "sign.heading.code", ref=asked.ref, title=words.request)
    )
    pattern = re.escape(say(lang, "sign.line.code", code="\0")).replace("\0", r"(\d+)")
    [code] = re.findall(pattern, code_mail)
    await _signing_control(
        page, lang, role="textbox", english="Code", form='form[action$="/verify"] [name="code"]'
    ).fill(code)
    await _signing_control(
        page, lang, role="button", english="Confirm",
        form='form[action$="/verify"] button[type="submit"]',
    ).click()  # fmt: skip
    consent = _signing_control(
        page, lang, role="checkbox", english=None, form='form[action$="/decide"] [name="consent"]'
    )
    await expect(consent).to_be_visible()

    # Every document is opened before deciding.
    await page.get_by_role("link", name=words.letter, exact=True).click()
    await expect(page.get_by_role("heading", name=words.letter)).to_be_visible()
    await page.goto(signing_page)
    await consent.check()
    await _signing_control(
        page, lang, role="button", english="Approve",
        form='form[action$="/decide"] button[name="action"][value="approve"]',
    ).click()  # fmt: skip

    await expect(page.locator('form[action$="/decide"]')).to_have_count(0)
    [decision] = await decisions(env)
    assert (decision.decision, decision.decided_by_recipient_id) == (
        "approved", tenant.recipient_id
    )  # fmt: skip
    await page.get_by_role("button", name=say(lang, "portal.open")).click()
    await expect(page).to_have_url(f"{base_url}/me")
    await expect(page.get_by_role("region", name=say(lang, "portal.decide.heading"))).to_have_count(
        0
    )
    asked_before = page.get_by_role("region", name=say(lang, "portal.requests.heading"))
    await expect(asked_before.get_by_role("link", name=words.request)).to_be_visible()
    await expect(asked_before.get_by_text(say(lang, "portal.decision.approved"))).to_be_visible()
