"""Which way a 'document shared' notice travels, and the platform bookkeeping."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Notification
from tests.conftest import STAFF, Tenant
from tests.helpers import link_chat, upload
from workflows import platform
from workflows.context import Env
from workflows.outbox.kinds import Via
from workflows.people import linking, preferences, recipients
from workflows.people.linking import ChatIdentity
from workflows.sharing import inbox, notices, sharing

CHAT = ChatIdentity(chat_id=777, user_id=777, username="rita")


async def _shared(env: Env, tenant: Tenant) -> Notification:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    async with env.sessions() as session:
        return (await session.exec(select(Notification))).one()


async def test_a_linked_recipient_is_reached_in_telegram(env: Env, tenant: Tenant) -> None:
    notification = await _shared(env, tenant)
    await link_chat(env, tenant, chat=CHAT)
    route = await notices.route_share_notice(env, notification)
    assert route.way == "telegram"
    assert route.notice is not None
    assert route.notice.document.title == "Fee table 2027"
    assert route.notice.organization.name == "Acme Law"


async def test_a_blocked_bot_falls_back_to_email_then_to_waiting(env: Env, tenant: Tenant) -> None:
    notification = await _shared(env, tenant)
    await link_chat(env, tenant, chat=CHAT)
    [person] = await linking.chat_blocked_bot(env, chat_id=CHAT.chat_id)
    assert person.telegram_active is False
    assert (await notices.route_share_notice(env, notification)).way == "email"
    await recipients.edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, email=None
    )
    route = await notices.route_share_notice(env, notification)
    assert route.way == "wait" and "no linked chat" in (route.reason or "")
    assert await linking.chat_is_back(env, chat_id=CHAT.chat_id) == 1
    assert (await notices.route_share_notice(env, notification)).way == "telegram"


async def test_revoked_shares_blocked_people_and_muted_kinds_are_not_sent(
    env: Env, tenant: Tenant
) -> None:
    notification = await _shared(env, tenant)
    await link_chat(env, tenant, chat=CHAT)
    await inbox.set_notification(env, chat_id=CHAT.chat_id, kind="document.shared", enabled=False)
    by_mail = await notices.route_share_notice(env, notification)
    assert by_mail.way == "email"  # muted in the chat, still wanted by mail
    await preferences.set_preferences(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
        choices={(Via.EMAIL, "document.shared"): False},
    )  # fmt: skip
    muted = await notices.route_share_notice(env, notification)
    assert (muted.way, muted.reason) == ("cancel", "the recipient turned these notifications off")
    await sharing.revoke_share(
        env, org_id=tenant.org_id, actor=STAFF, share_id=notification.payload["share_id"]
    )
    assert (await notices.route_share_notice(env, notification)).way == "cancel"


async def test_platform_file_ids_are_remembered_per_blob(env: Env) -> None:
    assert await platform.cached_file_id(env, channel="telegram", blob_key="ab" * 32) is None
    await platform.remember_file_id(env, channel="telegram", blob_key="ab" * 32, file_id="F1")
    await platform.remember_file_id(env, channel="telegram", blob_key="ab" * 32, file_id="F2")
    assert await platform.cached_file_id(env, channel="telegram", blob_key="ab" * 32) == "F2"
    await platform.forget_file_id(env, channel="telegram", blob_key="ab" * 32)
    assert await platform.cached_file_id(env, channel="telegram", blob_key="ab" * 32) is None


async def test_a_repeated_update_is_handled_once(env: Env) -> None:
    assert await platform.first_delivery(env, source="telegram", update_id="41")
    assert not await platform.first_delivery(env, source="telegram", update_id="41")
    assert await platform.first_delivery(env, source="telegram", update_id="42")
