"""The recipient delivery worker: routing, fallbacks and how each outcome settles a row."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bot.delivery import RecipientDelivery
from bot.errors import DeliveryError, PermanentFailure, TemporaryFailure, Throttled, Unreachable
from storage.models import Notification, Recipient
from tests.conftest import STAFF, Tenant
from tests.helpers import link_chat, stored_notifications, upload
from workflows.context import Env
from workflows.people import recipients
from workflows.people.linking import ChatIdentity
from workflows.sharing import access, sharing
from workflows.sharing.notices import ShareNotice

PUBLIC = "https://docs.example.test"
RITA = ChatIdentity(chat_id=4242)
"""The Telegram chat of the tenant's recipient, once linked."""


@dataclass
class RecordingSender:
    """A channel that records what it was asked to send and fails as told."""

    failures: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[ShareNotice, str]] = field(default_factory=list)

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((notice, link))
        return {"message_id": str(len(self.sent))}


async def _share(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )


async def _row(env: Env) -> Notification:
    """The recipient's notification (a delivery given up also tells staff, on Slack)."""
    [row] = await stored_notifications(env, channels=("recipient",))
    return row


async def test_a_linked_recipient_gets_the_notice_in_telegram_with_a_personal_link(
    env: Env, tenant: Tenant
) -> None:
    telegram, mail = RecordingSender(), RecordingSender()
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant)
    worker = RecipientDelivery(env, public_url=PUBLIC, telegram=telegram, mail=mail)

    assert await worker.run_once() == 1
    assert await worker.run_once() == 0

    [(notice, link)] = telegram.sent
    assert mail.sent == []
    assert notice.document.title == "Fee table 2027"
    assert link.startswith(f"{PUBLIC}/d/")
    opened = await access.resolve(env, link.rsplit("/", 1)[1])
    assert opened.recipient is not None and opened.recipient.id == tenant.recipient_id
    row = await _row(env)
    assert (row.status, row.delivered_via, row.result) == ("sent", "telegram", {"message_id": "1"})


async def test_a_blocked_bot_marks_telegram_inactive_and_falls_back_to_email(
    env: Env, tenant: Tenant
) -> None:
    telegram = RecordingSender(failures=[Unreachable("Forbidden: bot was blocked by the user")])
    mail = RecordingSender()
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant)

    await RecipientDelivery(env, public_url=PUBLIC, telegram=telegram, mail=mail).run_once()

    assert len(mail.sent) == 1
    assert (await _row(env)).delivered_via == "email"
    async with env.sessions() as session:
        person = await session.get(Recipient, tenant.recipient_id)
    assert person is not None and person.telegram_active is False


async def test_throttling_is_not_a_failure(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant)
    telegram = RecordingSender(failures=[Throttled(3)])
    await RecipientDelivery(env, public_url=PUBLIC, telegram=telegram).run_once()
    row = await _row(env)
    assert (row.status, row.attempts) == ("pending", 0)


@pytest.mark.parametrize(
    ("failure", "status"),
    [(TemporaryFailure("Bad Gateway"), "pending"), (PermanentFailure("message too long"), "dead")],
)
async def test_failures_are_retried_or_given_up(
    env: Env, tenant: Tenant, failure: DeliveryError, status: str
) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant)
    await RecipientDelivery(
        env, public_url=PUBLIC, telegram=RecordingSender(failures=[failure])
    ).run_once()
    row = await _row(env)
    assert (row.status, row.last_error) == (status, str(failure))


async def test_a_recipient_without_any_channel_waits_until_they_link(
    env: Env, tenant: Tenant
) -> None:
    await recipients.edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, email=None
    )
    await _share(env, tenant)
    telegram = RecordingSender()
    worker = RecipientDelivery(env, public_url=PUBLIC, telegram=telegram)
    await worker.run_once()
    assert (await _row(env)).status == "waiting"
    await link_chat(env, tenant, chat=RITA)
    await worker.run_once()
    assert len(telegram.sent) == 1 and (await _row(env)).status == "sent"


async def test_a_share_revoked_before_delivery_is_not_sent(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant)
    row = await _row(env)
    await sharing.revoke_share(
        env, org_id=tenant.org_id, actor=STAFF, share_id=row.payload["share_id"]
    )
    telegram = RecordingSender()
    await RecipientDelivery(env, public_url=PUBLIC, telegram=telegram).run_once()
    assert telegram.sent == [] and (await _row(env)).status == "cancelled"
