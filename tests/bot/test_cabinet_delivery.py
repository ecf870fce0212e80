"""News of a shared cabinet through the delivery worker: each member reads it in their own
language, in Telegram (the fake Bot API) with a button to open a colleague's document, or
by mail (the local SMTP server) with its one-click unsubscribe."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.telegram import messages
from bot.telegram.sender import TelegramSender
from storage.models import Recipient
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.fakes.smtp import SmtpServer
from tests.fakes.telegram_api import FakeTelegramApi
from tests.helpers import add_person, stored_notifications, upload
from workflows.context import Env
from workflows.outbox.kinds import Kind, Preference, Status
from workflows.people import groups, organizations, preferences, recipients
from workflows.sharing import access, inbox, sharing

PUBLIC = "https://docs.example.test"
CARL_CHAT = 7001


@dataclass(frozen=True)
class Cabinet:
    """Rita (English, by mail), Carl (Polish, in Telegram) and Dana (Swedish, by mail),
    colleagues in their client's shared cabinet."""

    rita: int
    carl: int
    dana: int


@pytest.fixture
async def cabinet(env: Env, tenant: Tenant, telegram_api: FakeTelegramApi) -> Cabinet:
    carl = await add_person(env, tenant, name="Carl Kowalski", language="pl")
    dana = await add_person(env, tenant, name="Dana Lind", email="dana@nordic.test", language="sv")
    async with env.sessions() as session, session.begin():
        person = await session.get(Recipient, carl)
        assert person is not None
        # As linking the chat leaves him.
        person.telegram_chat_id = person.telegram_user_id = CARL_CHAT
        person.telegram_active, person.status = True, "active"
        session.add(person)
    telegram_api.register_chat(CARL_CHAT)
    # The cabinet is shared once everyone is in it: nobody is told of the others' arrival.
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    return Cabinet(rita=tenant.recipient_id, carl=carl, dana=dana)


@pytest.fixture
async def worker(
    env: Env, telegram_api: FakeTelegramApi, smtp_server: SmtpServer
) -> AsyncIterator[RecipientDelivery]:
    telegram_api.flood_limits = None
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    async with telegram_api.bot() as bot:
        yield RecipientDelivery(
            env, public_url=PUBLIC, telegram=TelegramSender(bot, env), mail=mail
        )


async def _deliver(worker: RecipientDelivery) -> None:
    while await worker.run_once():
        pass


async def _share_with_rita(env: Env, tenant: Tenant, title: str) -> int:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    result = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    return result.share.id


async def test_a_colleagues_document_reaches_telegram_in_polish_with_a_button_to_open_it(
    env: Env,
    tenant: Tenant,
    cabinet: Cabinet,
    telegram_api: FakeTelegramApi,
    worker: RecipientDelivery,
) -> None:
    share_id = await _share_with_rita(env, tenant, "Fee table <2027>")
    await _deliver(worker)

    [message] = telegram_api.messages_to(CARL_CHAT)
    assert message.text == (
        "Acme Law: nowy dokument we wspólnej szafie\nFee table <2027>\nDla: Rita Recipient"
    )
    [[button]] = message.payload["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Otwórz" and button["url"].startswith(f"{PUBLIC}/d/")
    opened = await access.resolve(env, button["url"].rsplit("/", 1)[1])
    assert opened.share.id == share_id
    assert opened.recipient is not None and opened.recipient.id == cabinet.carl
    rows = await stored_notifications(env, kind=Kind.CABINET_DOCUMENT)
    assert {(r.target, r.status, r.delivered_via) for r in rows} == {
        (str(cabinet.carl), Status.SENT, "telegram"),
        (str(cabinet.dana), Status.SENT, "email"),
    }

    # Rita and Dana receive the next one together: Carl hears of both, once.
    group = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board",
        member_ids=[cabinet.rita, cabinet.dana],
    )  # fmt: skip
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Annex")
    await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document), group_id=id_of(group)
    )
    await _deliver(worker)
    [_, annex] = telegram_api.messages_to(CARL_CHAT)
    assert annex.text == (
        "Acme Law: nowy dokument we wspólnej szafie\nAnnex\nDla: Rita Recipient i jeszcze 1 osoba"
    )


async def test_a_colleagues_document_is_mailed_in_swedish_with_its_unsubscribe(
    env: Env,
    tenant: Tenant,
    cabinet: Cabinet,
    smtp_server: SmtpServer,
    worker: RecipientDelivery,
) -> None:
    await _share_with_rita(env, tenant, "Fee table 2027")
    await _deliver(worker)

    mails = {m["To"]: m for m in await smtp_server.wait_for(2)}
    assert set(mails) == {"rita@acme-client.test", "dana@nordic.test"}
    mail = mails["dana@nordic.test"]
    assert mail["Subject"] == "Acme Law: nytt dokument i ert gemensamma skåp – Fee table 2027"
    body = mail.get_content().replace("\r\n", "\n")
    assert body.startswith("Hej Dana Lind,\n\nett nytt dokument har kommit")
    assert "  Fee table 2027, till Rita Recipient\n" in body
    [link] = re.findall(rf"Öppna det här:\n({PUBLIC}/d/\S+)", body)
    opened = await access.resolve(env, link.rsplit("/", 1)[1])
    assert opened.recipient is not None and opened.recipient.id == cabinet.dana

    [token] = re.findall(rf"<{PUBLIC}/me/unsubscribe/(\S+)>", mail["List-Unsubscribe"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{PUBLIC}/me/unsubscribe/{token}" in body
    target = await preferences.unsubscribe(env, token)
    assert (target.kind, target.recipient.id) == ("cabinet", cabinet.dana)

    # Unsubscribed, Dana is mailed no more cabinet news; Rita's own notice still goes.
    await _share_with_rita(env, tenant, "Annex")
    await _deliver(worker)
    assert [m["To"] for m in smtp_server.messages[2:]] == ["rita@acme-client.test"]
    statuses = [n.status for n in await stored_notifications(env, kind=Kind.CABINET_DOCUMENT)]
    assert sorted(statuses) == sorted([Status.SENT] * 3 + [Status.CANCELLED])


async def test_who_joins_and_leaves_is_told_in_each_members_language(
    env: Env,
    tenant: Tenant,
    cabinet: Cabinet,
    telegram_api: FakeTelegramApi,
    smtp_server: SmtpServer,
    worker: RecipientDelivery,
) -> None:
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.dana, blocked=True
    )
    await _deliver(worker)

    [message] = telegram_api.messages_to(CARL_CHAT)
    assert message.text == "Acme Law: Dana Lind nie ma już dostępu do Waszej wspólnej szafy."
    assert "reply_markup" not in message.payload
    [mail] = await smtp_server.wait_for(1)
    assert mail["To"] == "rita@acme-client.test"
    assert mail["Subject"] == "Dana Lind no longer has access to your cabinet at Acme Law"
    assert mail["List-Unsubscribe"] is not None

    await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id,
        name="Erik Ek", language="ru",
    )  # fmt: skip
    await _deliver(worker)
    assert telegram_api.messages_to(CARL_CHAT)[-1].text == (
        "Acme Law: Erik Ek ma teraz dostęp do Waszej wspólnej szafy."
    )
    [_, joined] = await smtp_server.wait_for(2)
    assert joined["Subject"] == "Erik Ek now has access to your cabinet at Acme Law"
    assert (
        joined.get_content()
        .replace("\r\n", "\n")
        .startswith(
            "Hello Rita Recipient,\n\nErik Ek now has access to your shared cabinet at Acme Law"
        )
    )


async def test_the_chats_settings_switch_cabinet_news_under_its_own_name(
    env: Env, cabinet: Cabinet
) -> None:
    index = preferences.KINDS.index(Preference.CABINET)
    row = messages.notifications_keyboard("pl", {}).inline_keyboard[index]
    assert [(b.text, b.callback_data) for b in row] == [
        ("✅ Nowości we wspólnej szafie: wł.", f"{messages.NOTIFY}:{index}:0")
    ]

    [carl] = await inbox.set_notification(
        env, chat_id=CARL_CHAT, kind=preferences.KINDS[index], enabled=False
    )

    assert not preferences.wants(carl, Preference.CABINET)
    assert preferences.wants(carl, Preference.SHARED)
    off = messages.notifications_keyboard("pl", {Preference.CABINET.value: False})
    assert off.inline_keyboard[index][0].text == "⬜ Nowości we wspólnej szafie: wył."
