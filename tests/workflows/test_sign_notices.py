"""Signing notices: which way each goes and whether it still matters; links for a chat."""

from __future__ import annotations

import pytest

from storage.models import Notification
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import link_chat, request_signatures, stored_notifications
from workflows.context import Env, FixedClock
from workflows.errors import Gone, NotAllowed, NotFound
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients
from workflows.people.linking import ChatIdentity
from workflows.sharing import inbox
from workflows.signing import creation, identity, party_notices, party_page, requests
from workflows.signing.creation import NewParty

RITA_CHAT, RITA_USER = 4242, 9001
RITA = ChatIdentity(chat_id=RITA_CHAT, user_id=RITA_USER)


def _party_id(created: creation.CreatedRequest, name: str) -> int:
    [party] = [link.party for link in created.parties if link.party.name == name]
    assert party.id is not None
    return party.id


async def test_an_invitation_goes_by_telegram_when_linked_and_by_mail_otherwise(
    env: Env, tenant: Tenant
) -> None:
    await request_signatures(env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id))
    [row] = await stored_notifications(env, kind=Kind.SIGN_INVITE)
    assert (await party_notices.route_sign_notice(env, row)).way == "email"

    await link_chat(env, tenant, chat=RITA)
    route = await party_notices.route_sign_notice(env, row)
    assert route.way == "telegram" and route.notice is not None
    assert route.notice.chat_id == RITA_CHAT and route.notice.needs_link

    await inbox.set_notification(env, chat_id=RITA_CHAT, kind="signature", enabled=False)
    assert (await party_notices.route_sign_notice(env, row)).way == "email"


async def test_an_invitation_without_any_channel_waits_and_one_never_wanted_is_cancelled(
    env: Env, tenant: Tenant
) -> None:
    await recipients.edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, email=None
    )
    await request_signatures(env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id))
    [row] = await stored_notifications(env, kind=Kind.SIGN_INVITE)
    assert (await party_notices.route_sign_notice(env, row)).way == "wait"

    await link_chat(env, tenant, chat=RITA)
    await inbox.set_notification(env, chat_id=RITA_CHAT, kind="signature", enabled=False)
    route = await party_notices.route_sign_notice(env, row)
    assert (route.way, route.reason) == ("cancel", "the recipient turned these notifications off")


async def test_an_invitation_for_an_ended_or_expired_request_is_cancelled(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await request_signatures(
        env, tenant, NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")
    )
    [row] = await stored_notifications(env, kind=Kind.SIGN_INVITE)
    assert row.channel == "party"
    await requests.cancel_request(
        env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref, reason="Wrong fees"
    )

    route = await party_notices.route_sign_notice(env, row)
    assert route.way == "cancel" and "cancelled" in (route.reason or "")
    [ended] = await stored_notifications(env, kind=Kind.SIGN_ENDED)
    told = await party_notices.route_sign_notice(env, ended)
    assert told.way == "email" and told.notice is not None
    assert told.notice.reason == "Wrong fees" and not told.notice.needs_link


async def test_a_code_is_cancelled_once_replaced_expired_or_no_longer_needed(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await request_signatures(
        env, tenant, NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")
    )
    token = created.parties[0].token
    await identity.send_code(env, token)
    clock.at += identity.CODE_GAP
    await identity.send_code(env, token)
    first, second = await stored_notifications(env, kind=Kind.SIGN_CODE)

    assert (await party_notices.route_sign_notice(env, first)).reason == "a newer code was sent"
    assert (await party_notices.route_sign_notice(env, second)).way == "email"
    clock.at += identity.CODE_TTL
    expired = await party_notices.route_sign_notice(env, second)
    assert expired.reason == "the code expired before it was delivered"
    kept = party_notices.kept_payload(second)
    assert kept is not None and kept.to_json() == {
        "request_id": created.request.id,
        "party_id": second.payload["party_id"],
        "via": "email",
    }


async def test_a_row_of_another_organisation_or_party_is_cancelled(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "globex")
    await request_signatures(env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id))
    [row] = await stored_notifications(env, kind=Kind.SIGN_INVITE)
    forged = Notification(**{**row.model_dump(), "org_id": other.org_id})
    assert (await party_notices.route_sign_notice(env, forged)).way == "cancel"
    moved = Notification(**{**row.model_dump(), "target": str(other.recipient_id)})
    assert (await party_notices.route_sign_notice(env, moved)).reason == (
        "the recipient no longer exists"
    )


async def test_a_chat_gets_a_link_for_its_own_party_or_as_a_shared_cabinet_colleague(
    env: Env, tenant: Tenant
) -> None:
    cabinet = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Fjord AB", shared_cabinet=True
    )
    assert cabinet.id is not None
    people = []
    for name in ("Olga Owner", "Carl Colleague"):
        person = await recipients.add_recipient(
            env, org_id=tenant.org_id, actor=STAFF, client_id=cabinet.id, name=name
        )
        assert person.id is not None
        people.append(person.id)
    olga, carl = people
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=5001, user_id=5001), recipient_id=olga)
    await link_chat(env, tenant, chat=ChatIdentity(chat_id=5002, user_id=5002), recipient_id=carl)
    await link_chat(env, tenant, chat=RITA)
    created = await request_signatures(
        env, tenant, NewParty(role="approver", recipient_id=olga), client_id=cabinet.id
    )
    party_id = _party_id(created, "Olga Owner")

    own = await party_notices.chat_link(env, party_id=party_id, chat_id=5001, telegram_user_id=5001)
    assert not (await party_page.open_page(env, own)).on_behalf
    theirs = await party_notices.chat_link(
        env, party_id=party_id, chat_id=5002, telegram_user_id=5002
    )
    page = await party_page.open_page(env, theirs)
    assert page.on_behalf and page.decider is not None and page.decider.name == "Carl Colleague"

    with pytest.raises(NotAllowed, match="sent to someone else"):
        await party_notices.chat_link(
            env, party_id=party_id, chat_id=RITA_CHAT, telegram_user_id=RITA_USER
        )
    with pytest.raises(NotAllowed, match="not the one"):
        await party_notices.chat_link(env, party_id=party_id, chat_id=5001, telegram_user_id=666)
    with pytest.raises(NotFound):
        await party_notices.chat_link(env, party_id=999_999, chat_id=5001, telegram_user_id=5001)
    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref)
    with pytest.raises(Gone):
        await party_notices.chat_link(env, party_id=party_id, chat_id=5001, telegram_user_id=5001)


async def test_a_party_of_another_organisation_is_not_reachable_from_a_chat(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "globex")
    await link_chat(env, other, chat=RITA)
    created = await request_signatures(
        env, tenant, NewParty(role="approver", recipient_id=tenant.recipient_id)
    )
    with pytest.raises(NotAllowed):
        await party_notices.chat_link(
            env,
            party_id=_party_id(created, "Rita Recipient"),
            chat_id=RITA_CHAT,
            telegram_user_id=RITA_USER,
        )
