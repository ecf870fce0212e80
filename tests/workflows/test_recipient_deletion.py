"""Deleting a recipient: only one who holds nothing that must be kept, with their own rows
that carry no evidence, in one go; the history stays as it was and records the deletion."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from storage.models import (
    Document,
    GroupMember,
    Notification,
    PortalSession,
    Recipient,
    SignInRequest,
    SpaceMember,
    UnsubscribeLink,
)
from storage.rows import id_of
from storage.walls import Wall
from tests.conftest import STAFF, START, Tenant
from tests.helpers import add_person, audit_events, request_signatures, upload
from workflows import audit
from workflows.context import Env, FixedClock
from workflows.errors import NotFound
from workflows.outbox.kinds import Preference, Status
from workflows.people import groups, linking, organizations, preferences, recipients, spaces
from workflows.people.recipients import StillHolds
from workflows.portal import sessions
from workflows.sharing import inbox, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing.creation import NewParty

VISITOR = Visitor(ip=None, user_agent=None)


async def exists(env: Env, recipient_id: int) -> bool:
    async with env.reads() as session:
        return await session.get(Recipient, recipient_id) is not None


async def rows_of(env: Env, model: type, recipient_id: int) -> int:
    async with env.reads() as session:
        found = await session.exec(
            select(model).where(col(model.recipient_id) == recipient_id)  # type: ignore[attr-defined]
        )
        return len(found.all())


async def settle_notifications(env: Env) -> None:
    """Every notification goes out, as the delivery worker would have it."""
    async with env.sessions() as session, session.begin():
        await session.exec(update(Notification).values(status=Status.SENT.value))


async def delete(env: Env, tenant: Tenant, recipient_id: int) -> Recipient:
    return await recipients.delete_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=recipient_id
    )


async def test_a_recipient_who_holds_nothing_goes_with_their_own_rows(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    rita = tenant.recipient_id
    await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", member_ids=[rita]
    )
    await spaces.create_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Timber panel",
        client_id=tenant.client_id,
        member_ids=[rita],
    )
    await linking.invite_recipient(env, org_id=tenant.org_id, actor=STAFF, recipient_id=rita)
    minted = await linking.mint_invitation(env, recipient_id=rita, queued_at=START, telegram=True)
    assert minted is not None
    await sessions.redeem_sign_in(env, minted.portal_token, visitor=VISITOR)
    await preferences.mint_unsubscribe(env, recipient_id=rita, kind=Preference.REMINDER)
    await settle_notifications(env)
    kept = [(e.seq, e.hash) for e in await audit_events(env, org_id=tenant.org_id)]
    clock.at = START + timedelta(hours=1)

    gone = await delete(env, tenant, rita)

    assert gone.name == "Rita Recipient"
    assert not await exists(env, rita)
    for model in (GroupMember, SpaceMember, PortalSession, SignInRequest, UnsubscribeLink):
        assert await rows_of(env, model, rita) == 0, model.__name__
    async with env.reads() as session:
        assert (await session.exec(select(Notification))).all() == []
    events = await audit_events(env, org_id=tenant.org_id)
    assert [(e.seq, e.hash) for e in events[:-1]] == kept
    last = events[-1]
    assert (last.action, last.at) == ("recipient.deleted", clock.at)
    assert last.details["name"] == "Rita Recipient" and last.details["recipient_id"] == rita
    assert last.details["removed"] == {
        "groupmember": 1,
        "spacemember": 1,
        "portal_session": 1,
        "sign_in_request": 1,
        "unsubscribe_link": 1,
        "notification": 1,
    }
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok


async def _shared(env: Env, tenant: Tenant, rita: int) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document), recipient_id=rita
    )
    await settle_notifications(env)


async def _revoked_share(env: Env, tenant: Tenant, rita: int) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document), recipient_id=rita
    )
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=made.share.id)
    await settle_notifications(env)


async def _party(env: Env, tenant: Tenant, rita: int) -> None:
    await request_signatures(env, tenant, NewParty(role="signer", recipient_id=rita))
    await settle_notifications(env)


async def _returned(env: Env, tenant: Tenant, rita: int) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    async with env.sessions() as session, session.begin():
        await session.exec(
            update(Document)
            .where(col(Document.id) == document.id)
            .values(direction="inbound", uploaded_by_recipient_id=rita, uploaded_by_staff_id=None)
        )


async def _space_link(env: Env, tenant: Tenant, rita: int) -> None:
    space = await spaces.create_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Timber panel",
        client_id=tenant.client_id,
        member_ids=[rita],
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document), space_id=id_of(space)
    )
    await inbox.personal_link(env, share_id=shared.share.share.id, recipient_id=rita)
    await settle_notifications(env)


async def _invitation_on_its_way(env: Env, tenant: Tenant, rita: int) -> None:
    await linking.invite_recipient(env, org_id=tenant.org_id, actor=STAFF, recipient_id=rita)


Holding = Callable[[Env, Tenant, int], Awaitable[None]]


@pytest.mark.parametrize(
    ("hold", "said"),
    [
        (_shared, "they hold 1 share of a document;"),
        (_revoked_share, "they hold 1 share of a document;"),
        (_party, "they hold 1 signature request;"),
        (_returned, "they hold 1 document they returned;"),
        (_space_link, "they hold 1 document link from a space;"),
        (_invitation_on_its_way, "they hold 1 notification on its way;"),
    ],
    ids=["share", "revoked share", "party", "returned", "space link", "unsettled"],
)
async def test_a_recipient_who_holds_something_is_refused_and_kept_whole(
    env: Env, tenant: Tenant, hold: Holding, said: str
) -> None:
    rita = tenant.recipient_id
    await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", member_ids=[rita]
    )
    await hold(env, tenant, rita)
    before = await audit_events(env, org_id=tenant.org_id)

    with pytest.raises(StillHolds, match=said) as refused:
        await delete(env, tenant, rita)

    assert str(refused.value).startswith("Rita Recipient cannot be deleted: ")
    assert "block them instead" in str(refused.value)
    assert await exists(env, rita)
    assert await rows_of(env, GroupMember, rita) == 1
    assert await audit_events(env, org_id=tenant.org_id) == before


async def test_the_refusal_names_everything_they_hold(env: Env, tenant: Tenant) -> None:
    rita = tenant.recipient_id
    await _shared(env, tenant, rita)
    await _shared(env, tenant, rita)
    await _party(env, tenant, rita)

    holdings = await recipients.recipient_holdings(env, org_id=tenant.org_id, recipient_id=rita)

    assert holdings.reasons() == ["2 shares of documents", "1 signature request"]
    with pytest.raises(StillHolds, match="they hold 2 shares of documents, 1 signature request;"):
        await delete(env, tenant, rita)


async def test_a_walled_staff_member_cannot_delete_a_recipient_they_do_not_see(
    env: Env, tenant: Tenant
) -> None:
    other = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Acme Holdings"
    )
    walled = env.walled(Wall.of([id_of(other)]))

    with pytest.raises(NotFound, match=f"recipient {tenant.recipient_id} not found"):
        await delete(walled, tenant, tenant.recipient_id)

    assert await exists(env, tenant.recipient_id)


async def test_a_wall_does_not_hide_what_a_recipient_holds(env: Env, tenant: Tenant) -> None:
    """Wanda sees Nordic Timber only; its recipient was sent a document of another client,
    a share she cannot see: the recipient still holds it."""
    other = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Acme Holdings"
    )
    rita = tenant.recipient_id
    theirs = await upload(env, org_id=tenant.org_id, client_id=id_of(other))
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=id_of(theirs),
        recipient_id=rita,
        terms=ShareTerms(across_clients=True),
    )
    await settle_notifications(env)
    walled = env.walled(Wall.of([tenant.client_id]))

    with pytest.raises(StillHolds, match="they hold 1 share of a document;"):
        await delete(walled, tenant, rita)

    assert await exists(env, rita)


async def test_another_recipient_is_untouched(env: Env, tenant: Tenant) -> None:
    ola = await add_person(env, tenant, name="Ola Other")
    await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", member_ids=[ola, tenant.recipient_id]
    )

    await delete(env, tenant, ola)

    assert await rows_of(env, GroupMember, tenant.recipient_id) == 1
    assert await exists(env, tenant.recipient_id)
    with pytest.raises(NotFound):
        await delete(env, tenant, ola)
