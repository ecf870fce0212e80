"""Reminders through the delivery worker: what recipients and parties read in Telegram and
by mail, and reminders that are no longer needed when they come up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import select

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from bot.sign_texts import SignLinks
from bot.telegram import messages
from storage.models import Notification
from tests.conftest import STAFF, START, Tenant
from tests.fakes.smtp import SmtpServer
from tests.helpers import link_chat, stored_notifications, upload
from workflows import scans
from workflows.context import Actor, Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.people.linking import ChatIdentity
from workflows.people.recipients import edit_recipient
from workflows.sharing import availability, sharing
from workflows.sharing.notices import AccessNotice, ShareNotice
from workflows.signing import creation, deciding, party_reminders
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.party_notices import SignNotice

PUBLIC = "https://docs.example.test"
CHAT, USER = 4242, 9001
RITA = ChatIdentity(chat_id=CHAT, user_id=USER)
"""The Telegram chat of the tenant's recipient, once linked."""
DAY = timedelta(days=1)


@dataclass
class Recorder:
    """A channel that records what it was asked to send."""

    shares: list[tuple[ShareNotice, str]] = field(default_factory=list)
    signs: list[tuple[SignNotice, SignLinks | None]] = field(default_factory=list)
    access: list[AccessNotice] = field(default_factory=list)

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        self.shares.append((notice, link))
        return {"message_id": "1"}

    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]:
        self.signs.append((notice, links))
        return {"message_id": "2"}

    async def send_access_notice(self, notice: AccessNotice) -> dict[str, str]:
        self.access.append(notice)
        return {"message_id": "3"}


def _worker(
    env: Env, *, telegram: Recorder | None = None, mail: object = None
) -> RecipientDelivery:
    return RecipientDelivery(env, public_url=PUBLIC, telegram=telegram, mail=mail)  # type: ignore[arg-type]


async def _settle_queue(env: Env, worker: RecipientDelivery) -> None:
    while await worker.run_once():
        pass


async def _shared_doc_ending(env: Env, tenant: Tenant) -> None:
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title="Fee table <2027>",
        available_until=START + 2 * DAY,
    )
    assert document.id is not None
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )


async def test_an_availability_reminder_in_telegram_has_the_open_and_download_buttons(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _shared_doc_ending(env, tenant)
    telegram = Recorder()
    await _settle_queue(env, _worker(env, telegram=telegram))  # the share notice itself
    assert await availability.scan_availability(env, at=START) == (1, 1)

    await _settle_queue(env, _worker(env, telegram=telegram))

    notice, link = telegram.shares[-1]
    assert notice.kind == Kind.AVAILABILITY_ENDING and link.startswith(f"{PUBLIC}/d/")
    body, keyboard = messages.share_notice(notice, link=link)
    assert body.startswith("<b>Reminder from Acme Law</b>")
    assert "Fee table &lt;2027&gt;" in body and "25 November 2026, 12:00 UTC" in body
    assert [b.text for b in keyboard.inline_keyboard[0]] == ["Open", "Download"]
    row = (await stored_notifications(env, kind=Kind.AVAILABILITY_ENDING))[-1]
    assert (row.status, row.delivered_via) == ("sent", "telegram")


async def test_an_availability_reminder_by_mail(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await _shared_doc_ending(env, tenant)
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    await availability.scan_availability(env, at=START)

    await _settle_queue(env, _worker(env, mail=mail))

    messages_sent = await smtp_server.wait_for(2)
    reminder = messages_sent[-1]
    assert (
        reminder["Subject"].strip()  # a subject this long is folded: the fold's space stays
        == "Reminder: Fee table <2027> is available until 25 November 2026, 12:00 UTC"
    )
    body = reminder.get_content()
    assert "you have not opened it yet" in body and f"{PUBLIC}/d/" in body


async def _access_ending(env: Env, tenant: Tenant) -> None:
    await edit_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        recipient_id=tenant.recipient_id,
        access_expires_at=START + 2 * DAY,
    )
    assert await scans.scan_access_ending(env, at=START) == (1, 1)


async def test_an_access_ending_notice_by_mail(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await _access_ending(env, tenant)
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    await _settle_queue(env, _worker(env, mail=mail))
    [message] = await smtp_server.wait_for(1)
    assert (
        message["Subject"].strip()
        == "Your access to Acme Law's documents ends on 25 November 2026, 12:00 UTC"
    )
    assert "Download what you want to keep" in message.get_content()


async def test_an_access_ending_notice_in_telegram(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _access_ending(env, tenant)
    telegram = Recorder()
    await _settle_queue(env, _worker(env, telegram=telegram))
    [notice] = telegram.access
    assert messages.access_notice(notice) == (
        "<b>Acme Law</b>: your access to the documents shared with you ends on "
        "25 November 2026, 12:00 UTC. Download what you want to keep before then."
    )
    row = (await stored_notifications(env, kind=Kind.ACCESS_ENDING))[-1]
    assert (row.status, row.delivered_via) == ("sent", "telegram")


async def test_a_sign_reminder_for_an_approver_carries_the_decision_buttons(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=RITA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="approver", recipient_id=tenant.recipient_id)],
        ),
    )
    telegram = Recorder()
    await _settle_queue(env, _worker(env, telegram=telegram))  # the invitation
    clock.at = START + 2 * DAY
    assert await party_reminders.scan(env, at=clock.at) == 1

    await _settle_queue(env, _worker(env, telegram=telegram))

    notice, links = telegram.signs[-1]
    assert notice.kind == Kind.SIGN_REMINDER and links is not None
    body, keyboard = messages.sign_notice(notice, links=links)
    assert body.startswith("<b>Reminder: Acme Law asks you to approve “Fee table 2027”</b>")
    assert keyboard is not None
    assert [b.text for b in keyboard.inline_keyboard[0]] == ["Approve", "Reject"]


async def test_the_worker_drops_a_reminder_to_a_party_who_decided_meanwhile(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=RITA)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            parties=[
                NewParty(role="approver", recipient_id=tenant.recipient_id),
                NewParty(role="signer", name="Sam", email="sam@x.test"),
            ],
        ),
    )
    telegram, mail = Recorder(), Recorder()
    await _settle_queue(env, _worker(env, telegram=telegram, mail=mail))
    clock.at = START + 2 * DAY
    assert await party_reminders.scan(env, at=clock.at) == 2
    await deciding.decide(
        env,
        created.parties[0].token,
        Decision(kind="approve", consent=True, telegram_user_id=USER, needs_review=False),
        actor=Actor(type="party", label="page"),
    )

    await _settle_queue(env, _worker(env, telegram=telegram, mail=mail))

    sent = [*telegram.signs, *mail.signs]
    reminded = [n.party.name for n, _ in sent if n.kind == Kind.SIGN_REMINDER]
    assert reminded == ["Sam"]
    async with env.reads() as session:
        rows = (
            await session.exec(select(Notification).where(Notification.kind == Kind.SIGN_REMINDER))
        ).all()
    statuses = sorted((r.target, r.status, r.last_error or "") for r in rows)
    assert statuses[0][1] == "cancelled" and "decided meanwhile" in statuses[0][2]
