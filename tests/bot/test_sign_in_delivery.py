"""A sign-in link through the delivery worker: mailed in the recipient's language, its token
minted as it goes out and never kept in the outbox, and never promised without mail."""

from __future__ import annotations

import re

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from storage.models import Notification
from tests.conftest import STAFF, Tenant
from tests.fakes.smtp import SmtpServer
from tests.helpers import stored_notifications
from workflows.context import Env
from workflows.outbox.kinds import Kind, Status
from workflows.people.recipients import edit_recipient
from workflows.portal import sessions
from workflows.sharing.access import Visitor

PUBLIC = "https://docs.example.test"
RITA = "rita@acme-client.test"


async def _delivered(env: Env, worker: RecipientDelivery) -> list[Notification]:
    while await worker.run_once():
        pass
    return await stored_notifications(env, kind=Kind.PORTAL_SIGN_IN)


async def test_the_link_is_mailed_in_the_recipients_language_and_signs_in(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, language="pl"
    )
    await sessions.request_sign_in(env, email=RITA, ip=None)
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))

    [row] = await _delivered(env, RecipientDelivery(env, public_url=PUBLIC, mail=mail))

    [message] = await smtp_server.wait_for(1)
    body = message.get_content()
    assert message["To"] == RITA and message["Subject"] == "Twój link do logowania: Acme Law"
    assert "Działa jeden raz, przez 30 minut." in body
    [url] = re.findall(rf"{PUBLIC}/me/sign-in/(\S+)", body)
    assert row.status == Status.SENT and url not in str(row.payload)
    opened = await sessions.redeem_sign_in(env, url, visitor=Visitor(ip=None, user_agent=None))
    assert opened.recipient_id == tenant.recipient_id


async def test_without_mail_the_link_is_cancelled_not_kept_waiting(
    env: Env, tenant: Tenant
) -> None:
    await sessions.request_sign_in(env, email=RITA, ip=None)

    [row] = await _delivered(env, RecipientDelivery(env, public_url=PUBLIC))

    assert row.status == Status.CANCELLED and row.last_error == "no email channel is configured"
