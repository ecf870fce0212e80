"""Linking a Telegram chat to a recipient with a single-use invite code."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Notification
from tests.conftest import STAFF, START, Tenant
from tests.helpers import upload
from workflows.context import Env, FixedClock
from workflows.errors import Conflict, Gone, NotAllowed, NotFound
from workflows.people import linking, recipients
from workflows.people.linking import ChatIdentity
from workflows.sharing import sharing

CHAT = ChatIdentity(chat_id=5_000_000_001, user_id=5_000_000_001, username="rita")


async def test_an_invite_code_links_once_and_fits_a_deep_link(env: Env, tenant: Tenant) -> None:
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", invite.code)
    assert invite.expires_at == START + timedelta(days=7)

    linked = await linking.redeem_invite(env, code=invite.code, chat=CHAT)

    assert linked.recipient.telegram_chat_id == CHAT.chat_id
    assert linked.recipient.status == "active"
    assert linked.organization.name == "Acme Law"
    with pytest.raises(Gone, match="already used"):
        await linking.redeem_invite(env, code=invite.code, chat=CHAT)
    [(person, org)] = await linking.recipients_of_chat(env, chat_id=CHAT.chat_id)
    assert person.id == tenant.recipient_id and org.id == tenant.org_id


async def test_wrong_expired_and_blocked_codes_link_nothing(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    with pytest.raises(NotFound, match="not valid"):
        await linking.redeem_invite(env, code="no-such-code-at-all-1234", chat=CHAT)
    with pytest.raises(NotFound, match="not valid"):
        await linking.redeem_invite(env, code="", chat=CHAT)
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    clock.at = START + timedelta(days=7)
    with pytest.raises(Gone, match="expired"):
        await linking.redeem_invite(env, code=invite.code, chat=CHAT)
    clock.at = START
    fresh = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    with pytest.raises(NotFound):  # the older code stopped working
        await linking.redeem_invite(env, code=invite.code, chat=CHAT)
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    with pytest.raises(NotAllowed):
        await linking.redeem_invite(env, code=fresh.code, chat=CHAT)
    with pytest.raises(NotAllowed, match="blocked"):
        await linking.create_invite(
            env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
        )
    assert await linking.recipients_of_chat(env, chat_id=CHAT.chat_id) == []


async def test_one_chat_cannot_be_two_people_of_one_organisation(env: Env, tenant: Tenant) -> None:
    other = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Otto Other"
    )
    assert other.id is not None
    first = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    second = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=other.id
    )
    await linking.redeem_invite(env, code=first.code, chat=CHAT)
    with pytest.raises(Conflict, match="already linked"):
        await linking.redeem_invite(env, code=second.code, chat=CHAT)


async def test_linking_releases_notifications_that_waited_for_a_channel(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    async with env.sessions() as session, session.begin():
        waiting = (await session.exec(select(Notification))).one()
        waiting.status = "waiting"
        session.add(waiting)
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    linked = await linking.redeem_invite(env, code=invite.code, chat=CHAT)
    assert linked.released == 1
    async with env.sessions() as session:
        assert (await session.exec(select(Notification))).one().status == "pending"


async def test_unlinking_forgets_the_chat(env: Env, tenant: Tenant) -> None:
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    await linking.redeem_invite(env, code=invite.code, chat=CHAT)
    [gone] = await linking.unlink_chat(env, chat_id=CHAT.chat_id)
    assert gone.telegram_chat_id is None and gone.status == "invited"
    assert await linking.recipients_of_chat(env, chat_id=CHAT.chat_id) == []
    assert await linking.unlink_chat(env, chat_id=CHAT.chat_id) == []
