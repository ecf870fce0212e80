"""Whole journeys in Telegram: the real python-telegram-bot against the fake Bot API.

Staff share → the worker delivers → the recipient opens, downloads, returns, pages
through their documents and changes language; outages and a blocked bot are survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from bot.delivery import RecipientDelivery
from bot.i18n import text
from bot.mail import MailSender, SmtpConfig
from bot.telegram import handlers
from bot.telegram.app import (
    SECRET_HEADER,
    TelegramConfig,
    build_application,
    running,
    webhook_handler,
)
from bot.telegram.sender import TelegramSender
from inkpost.sample_pdf import make_pdf
from storage.models import AuditEvent, Document, Recipient
from tests.conftest import STAFF, Tenant
from tests.damaged_pdfs import damaged, hostile
from tests.fakes.smtp import SmtpServer
from tests.fakes.telegram_api import FakeTelegramApi, FloodLimits, TgUser
from tests.helpers import stored_notifications, upload
from workflows import platform
from workflows.context import Env
from workflows.outbox import claims
from workflows.people import linking, recipients
from workflows.sharing import access, sharing
from workflows.sharing.sharing import ShareTerms

PUBLIC = "https://docs.example.test"
RITA = 5_000_000_101
CARL = 5_000_000_102


@dataclass
class Stage:
    """The bot running against the fake, and a delivery worker beside it."""

    env: Env
    fake: FakeTelegramApi
    tenant: Tenant
    worker: RecipientDelivery

    async def say(self, chat_id: int, text: str) -> str:
        """The user writes; returns the text of the bot's next message to them."""
        before = len(self.fake.messages_to(chat_id))
        self.fake.user_sends_text(chat_id, text, user=TgUser(id=chat_id))
        await self.fake.wait_for(lambda: len(self.fake.messages_to(chat_id)) > before)
        return self.fake.messages_to(chat_id)[-1].text or ""

    async def press(self, chat_id: int, message_id: int, data: str) -> None:
        answered = len(self.fake.callback_answers)
        self.fake.user_presses_button(chat_id, message_id, data, user=TgUser(id=chat_id))
        await self.fake.wait_for(lambda: len(self.fake.callback_answers) > answered)

    async def link(self, recipient_id: int, chat_id: int) -> str:
        invite = await linking.create_invite(
            self.env, org_id=self.tenant.org_id, actor=STAFF, recipient_id=recipient_id
        )
        return await self.say(chat_id, f"/start {invite.code}")

    async def share(self, recipient_id: int, title: str = "Fee table 2027") -> int:
        document = await upload(
            self.env,
            org_id=self.tenant.org_id,
            client_id=self.tenant.client_id,
            title=title,
            data=make_pdf(title, pages=2),
        )
        result = await sharing.share_with_recipient(
            self.env,
            org_id=self.tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=recipient_id,
            terms=ShareTerms(staff_id=self.tenant.staff_id),
        )
        assert result.share.id is not None
        return result.share.id


@contextlib.asynccontextmanager
async def staged(
    env: Env, fake: FakeTelegramApi, tenant: Tenant, *, mail: MailSender | None = None
) -> AsyncIterator[Stage]:
    fake.flood_limits = None  # the rate-limit test turns them back on
    config = TelegramConfig(
        token=fake.token,
        public_url=PUBLIC,
        max_upload_bytes=env.limits.max_upload_bytes,
        api_url=fake.url,
        poll_timeout=1,
        rate_limit=False,
    )
    application, _ = build_application(config, env)
    async with running(application, config):
        worker = RecipientDelivery(
            env, public_url=PUBLIC, telegram=TelegramSender(application.bot, env), mail=mail
        )
        yield Stage(env=env, fake=fake, tenant=tenant, worker=worker)


@pytest.fixture
async def stage(env: Env, telegram_api: FakeTelegramApi, tenant: Tenant) -> AsyncIterator[Stage]:
    async with staged(env, telegram_api, tenant) as ready:
        yield ready


async def _carl(stage: Stage) -> int:
    person = await recipients.add_recipient(
        stage.env,
        org_id=stage.tenant.org_id,
        actor=STAFF,
        client_id=stage.tenant.client_id,
        name="Carl Colleague",
        language="pl",
    )
    assert person.id is not None
    return person.id


async def test_linking_greets_in_the_recipients_language_and_bad_codes_link_nothing(
    stage: Stage,
) -> None:
    carl = await _carl(stage)
    assert "not valid" in await stage.say(CARL, "/start not-a-real-code-000000")
    assert "invitation link" in await stage.say(CARL, "/start")
    greeting = await stage.link(carl, CARL)
    assert "Carl Colleague" in greeting and "Acme Law" in greeting and "Dzień dobry" in greeting
    invite = await linking.create_invite(
        stage.env, org_id=stage.tenant.org_id, actor=STAFF, recipient_id=carl
    )
    await stage.say(CARL, f"/start {invite.code}")
    assert "wykorzystane" in await stage.say(CARL, f"/start {invite.code}")  # used, in Polish
    assert "odłączony" in await stage.say(CARL, "/stop")
    assert await linking.recipients_of_chat(stage.env, chat_id=CARL) == []


async def test_a_shared_document_arrives_opens_and_downloads(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    share_id = await stage.share(stage.tenant.recipient_id)

    assert await stage.worker.run_once() == 1

    notice = stage.fake.messages_to(RITA)[-1]
    assert "Fee table 2027" in (notice.text or "") and "Acme Law" in (notice.text or "")
    open_button, download_button = notice.buttons
    assert open_button["url"].startswith(f"{PUBLIC}/d/")
    opened = await access.open_shared(
        stage.env, open_button["url"].rsplit("/", 1)[1], access.Visitor(ip="127.0.0.1")
    )
    assert opened.recipient is not None and opened.recipient.id == stage.tenant.recipient_id

    await stage.press(RITA, notice.message_id, download_button["callback_data"])
    await stage.fake.wait_for(lambda: any(m.document for m in stage.fake.messages_to(RITA)))
    sent = [m for m in stage.fake.messages_to(RITA) if m.document][-1]
    async with stage.env.sessions() as session:
        document = (await session.exec(select(Document))).one()
        downloads = (
            await session.exec(
                select(AuditEvent).where(
                    AuditEvent.action == "document.downloaded", AuditEvent.share_id == share_id
                )
            )
        ).all()
    assert sent.document is not None and sent.document.data[:5] == b"%PDF-"
    assert len(sent.document.data) == document.size
    assert [e.actor_label for e in downloads] == ["Rita Recipient"]
    assert all(
        len(b["callback_data"].encode()) <= 64 for b in notice.buttons if "callback_data" in b
    )


async def test_the_same_bytes_are_uploaded_to_telegram_once(stage: Stage) -> None:
    carl = await _carl(stage)
    await stage.link(stage.tenant.recipient_id, RITA)
    await stage.link(carl, CARL)
    document = await upload(stage.env, org_id=stage.tenant.org_id, client_id=stage.tenant.client_id)
    for person in (stage.tenant.recipient_id, carl):
        await sharing.share_with_recipient(
            stage.env,
            org_id=stage.tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=person,
        )
    await stage.worker.run_once()
    for chat in (RITA, CARL):
        notice = stage.fake.messages_to(chat)[-1]
        await stage.press(chat, notice.message_id, notice.buttons[1]["callback_data"])
        await stage.fake.wait_for(lambda c=chat: any(m.document for m in stage.fake.messages_to(c)))
        # The bot remembers Telegram's file id just after the upload returns.
        for _ in range(100):
            if await platform.cached_file_id(
                stage.env, channel="telegram", blob_key=document.blob_key
            ):
                break
            await asyncio.sleep(0.02)
    uploads = [r for r in stage.fake.requests_for("sendDocument") if r.status == 200]
    assert len(uploads) == 2
    files = {m.document.file_id for m in stage.fake.sent if m.document}  # type: ignore[union-attr]
    assert len(files) == 1


async def test_a_press_on_a_revoked_share_answers_no_longer_available(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    share_id = await stage.share(stage.tenant.recipient_id)
    await stage.worker.run_once()
    notice = stage.fake.messages_to(RITA)[-1]
    await sharing.revoke_share(
        stage.env, org_id=stage.tenant.org_id, actor=STAFF, share_id=share_id
    )
    await stage.press(RITA, notice.message_id, notice.buttons[1]["callback_data"])
    assert "no longer available" in (stage.fake.callback_answers[-1].text or "")
    assert not any(m.document for m in stage.fake.messages_to(RITA))


async def test_documents_are_paginated_with_buttons(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    for n in range(7):
        await stage.share(stage.tenant.recipient_id, title=f"Statement {n}")
    first = await stage.say(RITA, "/documents")
    assert "page 1 of 2" in first and "Statement 6" in first and "Statement 1" not in first
    listing = stage.fake.messages_to(RITA)[-1]
    await stage.press(RITA, listing.message_id, "pg:2:0")
    await stage.fake.wait_for(
        lambda: (
            "page 2 of 2"
            in (stage.fake.current_message(RITA, listing.message_id) or {}).get("text", "")
        )
    )
    page_two = stage.fake.current_message(RITA, listing.message_id) or {}
    assert "Statement 0" in page_two["text"] and "Statement 6" not in page_two["text"]


async def test_the_portal_opens_as_a_mini_app_from_the_menu_and_from_documents(
    stage: Stage,
) -> None:
    app = {"url": f"{PUBLIC}/me/telegram"}
    default = stage.fake.menu_buttons[None]
    assert default == {"type": "web_app", "text": "All your documents", "web_app": app}
    carl = await _carl(stage)
    await stage.link(carl, CARL)
    polish = text("pl", "portal.telegram.button", escape=False)
    assert stage.fake.menu_buttons[CARL] == {
        "type": "web_app",
        "text": polish,
        "web_app": app,
    }
    await stage.share(carl)
    await stage.say(CARL, "/documents")
    last = stage.fake.messages_to(CARL)[-1].buttons[-1]
    assert last == {"text": polish, "web_app": app}

    await stage.say(CARL, "/language")
    chooser = stage.fake.messages_to(CARL)[-1]
    await stage.press(CARL, chooser.message_id, "lang:ru")
    russian = text("ru", "portal.telegram.button", escape=False)
    await stage.fake.wait_for(lambda: stage.fake.menu_buttons[CARL].get("text") == russian)
    await stage.say(CARL, "/stop")
    assert stage.fake.menu_buttons[CARL] == {"type": "default"}


async def test_send_names_its_limit_and_a_stale_button_changes_nothing(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    carl = await _carl(stage)
    await stage.link(carl, CARL)

    assert "do 2 MB)" in await stage.say(CARL, "/send")
    await stage.say(CARL, "/notifications")
    toggles = stage.fake.messages_to(CARL)[-1]
    last = toggles.buttons[-1]["callback_data"]
    monkeypatch.setattr(handlers, "NOTIFICATION_KINDS", handlers.NOTIFICATION_KINDS[:1])
    await stage.press(CARL, toggles.message_id, last)

    assert stage.fake.callback_answers[-1].text == text("pl", "error.generic", escape=False)
    async with stage.env.sessions() as session:
        person = await session.get(Recipient, carl)
    assert person is not None and person.notification_prefs == {}


async def test_a_returned_file_reaches_the_organisation(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    await stage.share(stage.tenant.recipient_id)
    before = len(stage.fake.messages_to(RITA))
    stage.fake.user_sends_document(
        RITA, "signed.pdf", make_pdf("Signed", pages=1), "application/pdf", caption="Signed copy"
    )
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(RITA)) > before)
    assert "Signed copy" in (stage.fake.messages_to(RITA)[-1].text or "")
    async with stage.env.sessions() as session:
        inbound = (
            await session.exec(select(Document).where(Document.direction == "inbound"))
        ).one()
    assert inbound.uploaded_by_recipient_id == stage.tenant.recipient_id
    told = [n for n in await stored_notifications(stage.env) if n.kind == "document.returned"]
    assert told and told[0].target == f"staff:{stage.tenant.staff_id}"

    stage.fake.user_sends_document(
        RITA, "tool.exe", b"MZ" + bytes(range(200)), "application/x-msdownload"
    )
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(RITA)) > before + 1)
    assert "not accepted" in (stage.fake.messages_to(RITA)[-1].text or "")


async def test_language_and_notification_settings(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    assert "Choose your language" in await stage.say(RITA, "/language")
    chooser = stage.fake.messages_to(RITA)[-1]
    await stage.press(RITA, chooser.message_id, "lang:sv")
    await stage.fake.wait_for(
        lambda: (
            "svenska"
            in (stage.fake.current_message(RITA, chooser.message_id) or {}).get("text", "")
        )
    )
    assert "Vad jag kan göra" in await stage.say(RITA, "/help")
    await stage.say(RITA, "/notifications")
    toggles = stage.fake.messages_to(RITA)[-1]
    await stage.press(RITA, toggles.message_id, "nt:0:0")
    async with stage.env.sessions() as session:
        person = await session.get(Recipient, stage.tenant.recipient_id)
    assert person is not None and person.notification_prefs["telegram"]["document.shared"] is False
    await stage.share(stage.tenant.recipient_id)
    await stage.worker.run_once()
    # Muted in the chat, still wanted by mail: it waits for this installation's mail.
    [notice] = await stored_notifications(stage.env)
    assert (notice.status, notice.last_error) == ("waiting", "no email channel is configured")


async def test_a_repeated_update_is_handled_once(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    update = stage.fake.user_sends_text(RITA, "/help", user=TgUser(id=RITA))
    await stage.fake.wait_for(
        lambda: "What I can do" in (stage.fake.messages_to(RITA)[-1].text or "")
    )
    count = len(stage.fake.messages_to(RITA))
    stage.fake.queue_duplicate(update)
    await stage.say(RITA, "/help")  # a fresh update after the duplicate
    assert len(stage.fake.messages_to(RITA)) == count + 1


async def test_an_outage_is_retried_until_delivered(stage: Stage, clock: object) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    await stage.share(stage.tenant.recipient_id)
    stage.fake.outage(1, methods=("sendMessage",))
    await stage.worker.run_once()
    [row] = await stored_notifications(stage.env)
    assert (row.status, row.attempts) == ("pending", 1) and "Bad Gateway" in (row.last_error or "")
    stage.env.clock.at = row.next_attempt_at  # type: ignore[attr-defined]
    await stage.worker.run_once()
    [row] = await stored_notifications(stage.env)
    assert row.status == "sent"
    notices = [m for m in stage.fake.messages_to(RITA) if "Fee table" in (m.text or "")]
    assert len(notices) == 1


async def test_a_blocked_bot_falls_back_to_email(
    env: Env, telegram_api: FakeTelegramApi, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    async with staged(env, telegram_api, tenant, mail=mail) as stage:
        await stage.link(tenant.recipient_id, RITA)
        await stage.share(tenant.recipient_id)
        telegram_api.block(RITA)
        await stage.worker.run_once()
    [message] = await smtp_server.wait_for(1)
    assert message["To"] == "rita@acme-client.test"
    assert "Fee table 2027" in message["Subject"]
    assert f"{PUBLIC}/d/" in message.get_content()
    [row] = await stored_notifications(env)
    assert (row.status, row.delivered_via) == ("sent", "email")
    [(person, _)] = [(r, o) for r, o in await linking.recipients_of_chat(env, chat_id=RITA)] or [
        (None, None)
    ]
    assert person is not None and person.telegram_active is False


async def test_dead_rows_can_be_retried(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    await stage.share(stage.tenant.recipient_id)
    [row] = await claims.claim_due(stage.env, worker="w", channels=["recipient"])
    await claims.mark_failed(stage.env, row, worker="w", error="boom", permanent=True)
    assert await claims.retry_dead(stage.env, org_id=stage.tenant.org_id) == 1
    await stage.worker.run_once()
    notifications = await stored_notifications(stage.env)
    assert [n.status for n in notifications if n.channel == "recipient"] == ["sent"]
    assert [n.kind for n in notifications if n.channel == "slack"] == ["delivery.failed"]


async def test_messages_to_one_chat_are_paced_so_telegram_never_answers_429(
    env: Env, telegram_api: FakeTelegramApi, tenant: Tenant
) -> None:
    async with staged(env, telegram_api, tenant) as stage:
        await stage.link(tenant.recipient_id, RITA)
        for n in range(3):
            await stage.share(tenant.recipient_id, title=f"Invoice {n}")
    telegram_api.flood_limits = FloodLimits()
    config = TelegramConfig(
        token=telegram_api.token,
        public_url=PUBLIC,
        max_upload_bytes=env.limits.max_upload_bytes,
        api_url=telegram_api.url,
        poll_timeout=1,
    )
    application, _ = build_application(config, env)
    async with application:
        worker = RecipientDelivery(
            env, public_url=PUBLIC, telegram=TelegramSender(application.bot, env)
        )
        assert await worker.run_once() == 3
    notices = [m for m in telegram_api.messages_to(RITA) if "Invoice" in (m.text or "")]
    assert len(notices) == 3
    assert [r for r in telegram_api.requests if r.status == 429] == []
    gaps = [b.at - a.at for a, b in zip(notices, notices[1:], strict=False)]
    assert all(gap >= 0.9 for gap in gaps), gaps


async def test_the_webhook_takes_only_updates_with_the_secret(
    env: Env, telegram_api: FakeTelegramApi, tenant: Tenant, aiohttp_client: Any
) -> None:
    telegram_api.flood_limits = None
    secret = "s3cret-webhook-token"
    runner_app = web.Application()
    config = TelegramConfig(
        token=telegram_api.token,
        public_url="http://127.0.0.1:0",
        max_upload_bytes=env.limits.max_upload_bytes,
        api_url=telegram_api.url,
        webhook_secret=secret,
        rate_limit=False,
    )
    application, _ = build_application(config, env)
    runner_app.router.add_post("/telegram/webhook", webhook_handler(application, secret))
    http = await aiohttp_client(runner_app)
    public = str(http.make_url("")).rstrip("/")
    config = dataclasses.replace(config, public_url=public)
    async with running(application, config):
        refused = await http.post("/telegram/webhook", json={"update_id": 1})
        assert refused.status == 403
        wrong = await http.post(
            "/telegram/webhook", json={"update_id": 1}, headers={SECRET_HEADER: "guess"}
        )
        assert wrong.status == 403
        telegram_api.user_sends_text(RITA, "/help", user=TgUser(id=RITA))
        await telegram_api.wait_for(lambda: telegram_api.messages_to(RITA))
    assert "What I can do" in (telegram_api.messages_to(RITA)[-1].text or "")
    assert telegram_api.webhook_deliveries and all(
        d.status == 200 for d in telegram_api.webhook_deliveries
    )


@pytest.mark.parametrize("name", ["cut, end marker kept", "Launch action on opening"])
async def test_a_damaged_or_hostile_returned_file_is_refused_with_its_reason(
    stage: Stage, name: str
) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    before = len(stage.fake.messages_to(RITA))

    stage.fake.user_sends_document(
        RITA, "signed.pdf", {**damaged(), **hostile()}[name], "application/pdf"
    )
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(RITA)) > before)

    assert "the PDF" in (stage.fake.messages_to(RITA)[-1].text or "")
    async with stage.env.sessions() as session:
        assert (await session.exec(select(Document))).all() == []
