"""Every mail about something a recipient may turn off carries a one-click unsubscribe
(RFC 8058) that does turn it off; mails they asked for carry none."""

from __future__ import annotations

import re

from bot.delivery import RecipientDelivery
from bot.mail import MailSender, SmtpConfig
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.fakes.smtp import SmtpServer
from tests.helpers import stored_notifications, upload
from workflows.context import Env
from workflows.outbox.kinds import Kind, Status
from workflows.people import preferences
from workflows.portal import sessions
from workflows.sharing import sharing

PUBLIC = "https://docs.example.test"


async def _share(env: Env, tenant: Tenant, title: str) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip


async def _deliver(env: Env, smtp_server: SmtpServer) -> None:
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    worker = RecipientDelivery(env, public_url=PUBLIC, mail=mail)
    while await worker.run_once():
        pass


async def test_a_share_mail_unsubscribes_in_one_click_and_the_next_is_not_mailed(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await _share(env, tenant, "Fee table 2027")
    await _deliver(env, smtp_server)
    [mail] = await smtp_server.wait_for(1)

    [header] = re.findall(rf"<{PUBLIC}/me/unsubscribe/(\S+)>", mail["List-Unsubscribe"])
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{PUBLIC}/me/unsubscribe/{header}" in mail.get_content()
    target = await preferences.unsubscribe(env, header)
    assert target.kind == "document.shared"

    await _share(env, tenant, "Annex")
    await _deliver(env, smtp_server)

    assert len(smtp_server.messages) == 1
    statuses = [n.status for n in await stored_notifications(env, kind=Kind.DOCUMENT_SHARED)]
    assert statuses == [Status.SENT, Status.CANCELLED]


async def test_a_sign_in_mail_asked_for_carries_no_unsubscribe(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await sessions.request_sign_in(env, email="rita@acme-client.test", ip=None)
    await _deliver(env, smtp_server)

    [mail] = await smtp_server.wait_for(1)
    assert mail["List-Unsubscribe"] is None and "unsubscribe" not in mail.get_content()
