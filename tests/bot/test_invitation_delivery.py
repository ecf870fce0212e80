"""An invitation through the delivery worker: mailed (the local SMTP server) in the
recipient's language with a link to their portal and, where Telegram is set up (the fake Bot
API), one for the bot; both minted as it goes out, never kept in the outbox."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.telegram.sender import TelegramSender
from inkpost import services
from storage.models import Notification, SignInRequest
from tests.conftest import STAFF, START, Tenant
from tests.fakes.smtp import SmtpServer
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import count_rows, stored_notifications
from workflows.context import Env, FixedClock
from workflows.outbox.kinds import Kind, Status
from workflows.people import linking, organizations
from workflows.people.linking import ChatIdentity
from workflows.people.recipients import edit_recipient
from workflows.portal import sessions
from workflows.sharing.access import Visitor

PUBLIC = "https://docs.example.test"
RITA = "rita@acme-client.test"
VISITOR = Visitor(ip=None, user_agent=None)


@pytest.fixture
def mail(smtp_server: SmtpServer) -> MailSender:
    return MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))


@pytest.fixture
async def bot(telegram_api: FakeTelegramApi) -> AsyncIterator[Bot]:
    async with telegram_api.bot() as bot:
        yield bot


def with_telegram(env: Env, bot: Bot, mail: MailSender) -> RecipientDelivery:
    """The worker as `inkpost serve` builds it with a bot token and a mail server."""
    return RecipientDelivery(
        env,
        public_url=PUBLIC,
        telegram=TelegramSender(bot, env),
        mail=mail,
        telegram_username=services.bot_username(bot),
    )


async def invite(env: Env, tenant: Tenant) -> None:
    await linking.invite_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )


async def delivered(env: Env, worker: RecipientDelivery) -> list[Notification]:
    while await worker.run_once():
        pass
    return await stored_notifications(env, kind=Kind.INVITATION)


async def test_the_invitation_is_mailed_in_polish_with_both_links_that_work(
    env: Env, tenant: Tenant, smtp_server: SmtpServer, bot: Bot, mail: MailSender
) -> None:
    await edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, language="pl"
    )
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email="biuro@acme.test"
    )
    await invite(env, tenant)

    [row] = await delivered(env, with_telegram(env, bot, mail))

    [message] = await smtp_server.wait_for(1)
    body = message.get_content().replace("\r\n", "\n")
    assert message["To"] == RITA
    assert message["Subject"] == "Acme Law zaprasza Cię do Twoich dokumentów w Inkpost"
    assert "Acme Law korzysta z Inkpost, aby udostępniać Ci dokumenty" in body
    assert "Korzystasz z Telegrama?" in body
    assert "każdy z nich działa jeden raz, do 30 listopada 2026, 12:00 UTC." in body
    assert f"Później zalogujesz się na {PUBLIC}/me, podając ten adres e-mail." in body
    assert "Masz pytania? Kontakt: biuro@acme.test (Acme Law)" in body
    [token] = re.findall(rf"{PUBLIC}/me/sign-in/(\S+)", body)
    [code] = re.findall(r"https://t\.me/inkpost_test_bot\?start=(\S+)", body)
    assert row.status == Status.SENT and row.delivered_via == "email"
    assert token not in str(row.payload) and code not in str(row.payload)
    opened = await sessions.redeem_sign_in(env, token, visitor=VISITOR)
    assert opened.recipient_id == tenant.recipient_id
    linked = await linking.redeem_invite(env, code=code, chat=ChatIdentity(chat_id=4242))
    assert linked.recipient.id == tenant.recipient_id


async def test_without_telegram_the_mail_carries_the_portal_link_alone(
    env: Env, tenant: Tenant, smtp_server: SmtpServer, mail: MailSender
) -> None:
    await invite(env, tenant)

    [row] = await delivered(env, RecipientDelivery(env, public_url=PUBLIC, mail=mail))

    [message] = await smtp_server.wait_for(1)
    body = message.get_content().replace("\r\n", "\n")
    assert message["Subject"] == "Acme Law invites you to your documents on Inkpost"
    assert body.startswith("Hello Rita Recipient,\n\nAcme Law uses Inkpost to share documents")
    assert "This link is personal and works once, until 30 November 2026, 12:00 UTC." in body
    assert "Telegram" not in body and "t.me" not in body and "Questions?" not in body
    assert len(re.findall(rf"{PUBLIC}/me/sign-in/\S+", body)) == 1
    assert row.status == Status.SENT


async def test_without_a_mail_server_the_invitation_is_cancelled_and_mints_nothing(
    env: Env, tenant: Tenant
) -> None:
    await invite(env, tenant)

    [row] = await delivered(env, RecipientDelivery(env, public_url=PUBLIC))

    assert row.status == Status.CANCELLED and row.last_error == "no email channel is configured"
    assert await count_rows(env, SignInRequest) == 0


async def test_an_invitation_replaced_by_a_later_one_is_not_sent(
    env: Env, tenant: Tenant, clock: FixedClock, smtp_server: SmtpServer, mail: MailSender
) -> None:
    await invite(env, tenant)
    clock.at = START + timedelta(minutes=2)
    await invite(env, tenant)

    first, second = await delivered(env, RecipientDelivery(env, public_url=PUBLIC, mail=mail))

    assert (first.status, first.last_error) == (
        Status.CANCELLED,
        "the invitation is no longer wanted",
    )
    assert second.status == Status.SENT
    assert len(await smtp_server.wait_for(1)) == 1


async def test_when_telegram_does_not_say_the_bots_name_the_mail_waits_for_a_retry(
    env: Env,
    tenant: Tenant,
    smtp_server: SmtpServer,
    telegram_api: FakeTelegramApi,
    bot: Bot,
    mail: MailSender,
) -> None:
    await invite(env, tenant)
    telegram_api.outage(1, methods=("getMe",))

    [row] = await delivered(env, with_telegram(env, bot, mail))

    assert row.status == Status.PENDING and row.attempts == 1
    assert "Telegram did not tell the bot's name" in (row.last_error or "")
    assert smtp_server.messages == [] and await count_rows(env, SignInRequest) == 0
