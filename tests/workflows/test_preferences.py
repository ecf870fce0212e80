"""What a recipient wants to be told and how: per kind and per channel, set in a chat, in
the portal or by a mail's one-click unsubscribe, and honoured for Telegram and mail alike."""

from __future__ import annotations

import pytest
from sqlmodel import select

from storage.models import Recipient, UnsubscribeLink
from tests.conftest import STAFF, Tenant
from tests.helpers import audit_events, link_chat
from workflows.context import Env
from workflows.errors import Gone, InvalidInput
from workflows.outbox.kinds import Hold, Preference, Via
from workflows.people import preferences
from workflows.people.linking import ChatIdentity

CHAT = ChatIdentity(chat_id=4242, user_id=9001)


async def _rita(env: Env, tenant: Tenant) -> Recipient:
    async with env.reads() as session:
        rita = await session.get(Recipient, tenant.recipient_id)
    assert rita is not None
    return rita


async def _choose(env: Env, tenant: Tenant, **off: bool) -> Recipient:
    choices = {}
    for name, enabled in off.items():
        channel, _, kind = name.partition("__")
        choices[(Via(channel), Preference[kind.upper()].value)] = enabled
    await preferences.set_preferences(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
        choices=choices,
    )  # fmt: skip
    return await _rita(env, tenant)


async def test_telegram_first_then_mail_then_nothing(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=CHAT)
    rita = await _rita(env, tenant)
    assert preferences.way_for(rita, Preference.SHARED).way == Via.TELEGRAM

    rita = await _choose(env, tenant, telegram__shared=False)
    assert preferences.way_for(rita, Preference.SHARED).way == Via.EMAIL
    assert preferences.way_for(rita, Preference.REMINDER).way == Via.TELEGRAM

    rita = await _choose(env, tenant, email__shared=False)
    muted = preferences.way_for(rita, Preference.SHARED)
    assert (muted.way, muted.reason) == (
        Hold.CANCEL,
        "the recipient turned these notifications off",
    )


async def test_a_reminder_of_signing_needs_both_kinds_wanted(env: Env, tenant: Tenant) -> None:
    rita = await _choose(env, tenant, email__reminder=False)

    assert preferences.way_for(rita, Preference.SIGNATURE).way == Via.EMAIL
    assert preferences.way_for(rita, Preference.SIGNATURE, Preference.REMINDER).way == Hold.CANCEL


async def test_choices_are_recorded_once_and_unknown_ones_refused(env: Env, tenant: Tenant) -> None:
    await _choose(env, tenant, email__shared=False)
    await _choose(env, tenant, email__shared=False)

    [event] = await audit_events(
        env, org_id=tenant.org_id, action="recipient.notifications.changed"
    )
    assert event.details == {"notifications": {"email": {"document.shared": False}}}
    with pytest.raises(InvalidInput, match="unknown kind of notification 'spam'"):
        await preferences.set_preferences(
            env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
            choices={(Via.EMAIL, "spam"): False},
        )  # fmt: skip


async def test_an_unsubscribe_link_turns_its_kind_off_by_mail_only(
    env: Env, tenant: Tenant
) -> None:
    token = await preferences.mint_unsubscribe(
        env, recipient_id=tenant.recipient_id, kind=Preference.REMINDER
    )

    target = await preferences.unsubscribe(env, token)
    again = await preferences.unsubscribe(env, token)

    rita = await _rita(env, tenant)
    assert target.kind == again.kind == Preference.REMINDER
    assert not preferences.wants(rita, Preference.REMINDER, Via.EMAIL)
    assert preferences.wants(rita, Preference.REMINDER, Via.TELEGRAM)
    assert preferences.wants(rita, Preference.SHARED, Via.EMAIL)
    async with env.reads() as session:
        [row] = (await session.exec(select(UnsubscribeLink))).all()
    assert row.token_hash != token


@pytest.mark.parametrize("token", ["A" * 32, "not a token"])
async def test_a_made_up_unsubscribe_link_does_nothing(
    env: Env, tenant: Tenant, token: str
) -> None:
    with pytest.raises(Gone, match="change your notifications in your portal"):
        await preferences.unsubscribe(env, token)


async def test_the_language_is_checked_and_shared_with_telegram(env: Env, tenant: Tenant) -> None:
    await preferences.set_language(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF, language="PL"
    )

    assert (await _rita(env, tenant)).language == "pl"
    with pytest.raises(InvalidInput, match="language must be one of en, pl, ru, sv"):
        await preferences.set_language(
            env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF,
            language="de",
        )  # fmt: skip
