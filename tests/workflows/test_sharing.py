"""Sharing with people, groups, spaces and links; revoking; who may open what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from storage.models import Share
from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import add_person, stored_notifications, upload
from workflows.context import Env, FixedClock
from workflows.errors import Conflict, Gone, InvalidInput, NotAllowed, NotAvailableNow, NotFound
from workflows.people import groups, recipients, spaces
from workflows.sharing import access, links, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.tokens import hash_token

VISITOR = Visitor(ip="127.0.0.1", user_agent="pytest")


async def board(env: Env, tenant: Tenant, members: list[int]) -> int:
    """A group "Board" of the tenant's organisation holding ``members``; its id."""
    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Board")
    assert group.id is not None
    await groups.add_to_group(
        env, org_id=tenant.org_id, actor=STAFF, group_id=group.id, recipient_ids=members
    )
    return group.id


async def test_a_link_token_is_long_url_safe_and_stored_only_as_a_hash(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    result = await links.create_link(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id
    )
    assert result.token is not None
    assert len(result.token) >= 22  # 128 bits in base64url
    assert set(result.token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    async with env.sessions() as session:
        share = (await session.exec(select(Share))).one()
    assert share.token_hash == hash_token(result.token)
    assert result.token not in repr(share.model_dump())


async def test_sharing_with_a_recipient_queues_one_notification(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    first = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    again = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    assert first.created and not again.created and again.share.id == first.share.id
    (notification,) = await stored_notifications(env)
    assert notification.kind == "document.shared"
    assert notification.target == str(tenant.recipient_id)
    assert notification.payload == {"share_id": first.share.id, "document_id": document.id}
    assert notification.status == "pending"


async def test_a_group_share_skips_blocked_and_expired_members(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    blocked = await add_person(env, tenant, name="Bob Blocked")
    expiring = await add_person(
        env, tenant, name="Erin Expiring", access_expires_at=START + timedelta(hours=1)
    )
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=blocked, blocked=True
    )
    group_id = await board(env, tenant, [tenant.recipient_id, blocked, expiring])
    clock.at = START + timedelta(hours=2)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)

    result = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
    )

    assert [r.share.recipient_id for r in result.shares] == [tenant.recipient_id]
    assert len(result.skipped) == 2
    assert any("blocked" in reason for reason in result.skipped)
    assert any("access ended" in reason for reason in result.skipped)
    assert [n.target for n in await stored_notifications(env)] == [str(tenant.recipient_id)]


async def test_a_blocked_recipient_gets_nothing_and_can_open_nothing(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    assert shared.token is not None
    with pytest.raises(NotAllowed):
        await access.open_shared(env, shared.token, VISITOR)
    other = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, title="Annex", category="annex"
    )
    with pytest.raises(NotAllowed, match="blocked"):
        await sharing.share_with_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=other.id,
            recipient_id=tenant.recipient_id,
        )
    assert len(await stored_notifications(env)) == 1


async def test_access_ends_at_the_moment_it_expires(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    person = await add_person(
        env, tenant, name="Tess Temp", access_expires_at=START + timedelta(days=1)
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, recipient_id=person
    )
    assert shared.token is not None
    clock.at = START + timedelta(days=1) - timedelta(seconds=1)
    await access.open_shared(env, shared.token, VISITOR)
    clock.at = START + timedelta(days=1)
    with pytest.raises(NotAllowed):
        await access.open_shared(env, shared.token, VISITOR)


async def test_a_space_share_notifies_each_member_once(env: Env, tenant: Tenant) -> None:
    colleague = await add_person(env, tenant, name="Carl Colleague")
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Board room", client_id=tenant.client_id
    )
    assert space.id is not None
    for member in (tenant.recipient_id, colleague):
        await spaces.add_space_member(
            env, org_id=tenant.org_id, actor=STAFF, space_id=space.id, recipient_id=member
        )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    # Rita already holds the document directly: the space share must not notify her again.
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )

    result = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=space.id
    )

    assert result.notified == 1
    targets = [n.target for n in await stored_notifications(env)]
    assert sorted(targets) == sorted([str(tenant.recipient_id), str(colleague)])
    with pytest.raises(Conflict, match="already shared"):
        await sharing.share_with_space(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=space.id
        )


async def test_deleting_a_space_revokes_its_shares_and_removes_only_its_own_members(
    env: Env, tenant: Tenant
) -> None:
    loner = await add_person(env, tenant, name="Lone Member")
    first = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Panel A", client_id=tenant.client_id
    )
    second = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Panel B", client_id=tenant.client_id
    )
    assert first.id is not None and second.id is not None
    memberships = [
        (first.id, loner),
        (first.id, tenant.recipient_id),
        (second.id, tenant.recipient_id),
    ]
    for space_id, member in memberships:
        await spaces.add_space_member(
            env, org_id=tenant.org_id, actor=STAFF, space_id=space_id, recipient_id=member
        )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=first.id
    )

    deletion = await spaces.delete_space(env, org_id=tenant.org_id, actor=STAFF, space_id=first.id)

    assert deletion.revoked_shares == 1
    assert deletion.removed_recipients == ["Lone Member"]
    assert shared.share.token is not None
    with pytest.raises(Gone, match="revoked"):
        await access.open_shared(env, shared.share.token, VISITOR)
    remaining = await recipients.list_recipients(env, org_id=tenant.org_id)
    assert [r.name for r in remaining] == ["Rita Recipient"]
    assert [s.space.name for s in await spaces.list_spaces(env, org_id=tenant.org_id)] == [
        "Panel B"
    ]
    # The document itself is untouched.
    assert await env.blobs.exists(document.blob_key)


async def test_link_limits_expiry_revocation_and_window(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        available_from=START + timedelta(days=1),
        available_until=START + timedelta(days=10),
    )
    link = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        terms=ShareTerms(expires_at=START + timedelta(days=5)),
        max_downloads=1,
    )
    assert link.token is not None
    with pytest.raises(NotAvailableNow) as early:
        await access.open_shared(env, link.token, VISITOR)
    assert early.value.available_from == START + timedelta(days=1)

    clock.at = START + timedelta(days=2)
    await access.open_shared(env, link.token, VISITOR)
    await access.start_download(env, link.token, VISITOR)
    with pytest.raises(Gone, match="download limit"):
        await access.start_download(env, link.token, VISITOR)
    with pytest.raises(Gone, match="download limit"):
        await access.open_shared(env, link.token, VISITOR)

    second = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        terms=ShareTerms(expires_at=START + timedelta(days=5)),
    )
    assert second.token is not None
    clock.at = START + timedelta(days=5)
    with pytest.raises(Gone, match="expired"):
        await access.open_shared(env, second.token, VISITOR)

    third = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    assert third.token is not None
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=third.share.id)
    with pytest.raises(Gone, match="revoked"):
        await access.open_shared(env, third.token, VISITOR)
    with pytest.raises(Conflict, match="already revoked"):
        await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=third.share.id)

    fourth = await links.create_link(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id
    )
    assert fourth.token is not None
    clock.at = START + timedelta(days=10)
    with pytest.raises(NotAvailableNow) as late:
        await access.open_shared(env, fourth.token, VISITOR)
    assert "no longer available" in str(late.value)


@pytest.mark.parametrize("token", ["", "short", "x" * 32, "../../etc/passwd", "a" * 500])
async def test_unknown_or_malformed_tokens_are_not_found(env: Env, token: str) -> None:
    with pytest.raises(NotFound):
        await access.resolve(env, token)


async def test_opening_records_first_open_and_counts(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    assert link.token is not None
    await access.open_shared(env, link.token, VISITOR)
    await access.open_shared(env, link.token, VISITOR)
    async with env.sessions() as session:
        share = await session.get(Share, link.share.id)
    assert share is not None
    assert share.open_count == 2 and share.first_opened_at == START


@pytest.mark.parametrize(
    ("terms", "max_downloads", "message"),
    [
        (ShareTerms(expires_at=START - timedelta(seconds=1)), None, "must be in the future"),
        (ShareTerms(expires_at=START.replace(tzinfo=None)), None, "needs a time zone"),
        (ShareTerms(), 0, "at least 1"),
        (ShareTerms(message="x" * 2001), None, "longer than 2000"),
    ],
)
async def test_bad_link_terms_are_refused_and_create_nothing(
    env: Env, tenant: Tenant, terms: ShareTerms, max_downloads: int | None, message: str
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    with pytest.raises(InvalidInput, match=message):
        await links.create_link(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            terms=terms,
            max_downloads=max_downloads,
        )
    assert await sharing.list_shares(env, org_id=tenant.org_id) == []


async def test_another_tenant_cannot_share_revoke_or_see_shares(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    with pytest.raises(NotFound):
        await links.create_link(env, org_id=other.org_id, actor=STAFF, document_id=document.id)
    with pytest.raises(NotFound):
        await sharing.share_with_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=other.recipient_id,
        )
    with pytest.raises(NotFound):
        await sharing.revoke_share(env, org_id=other.org_id, actor=STAFF, share_id=link.share.id)
    assert await sharing.list_shares(env, org_id=other.org_id) == []


async def test_a_large_group_is_shared_in_bulk_once_per_person(env: Env, tenant: Tenant) -> None:
    from storage.models import GroupMember, Recipient
    from workflows import audit

    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="All")
    assert group.id is not None
    async with env.sessions() as session, session.begin():
        people = [
            Recipient(org_id=tenant.org_id, client_id=tenant.client_id, name=f"Person {n}")
            for n in range(1200)
        ]
        session.add_all(people)
        await session.flush()
        session.add_all(
            GroupMember(group_id=group.id, recipient_id=p.id, org_id=tenant.org_id)
            for p in people
            if p.id is not None
        )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    # Two members already hold the document through a space: shared, but not told again.
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", client_id=tenant.client_id
    )
    assert space.id is not None
    for person in people[:2]:
        assert person.id is not None
        await spaces.add_space_member(
            env, org_id=tenant.org_id, actor=STAFF, space_id=space.id, recipient_id=person.id
        )
    await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=space.id
    )
    told_by_space = len(await stored_notifications(env))

    first = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group.id
    )
    again = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group.id
    )

    assert told_by_space == 2
    assert len(first.shares) == 1200 and all(r.created and r.token for r in first.shares)
    assert len(again.shares) == 1200 and not any(r.created for r in again.shares)
    # Each person's share is the one stored for them, under the token they were given.
    async with env.sessions() as session:
        stored = {
            share.id: share
            for share in (await session.exec(select(Share).where(Share.group_id == group.id))).all()
        }
    assert len(stored) == 1200
    for result in first.shares:
        share = stored[result.share.id]
        assert result.token is not None and share.token_hash == hash_token(result.token)
        assert share.recipient_id == result.share.recipient_id
    notifications = await stored_notifications(env)
    assert len(notifications) == 1200
    assert len({n.target for n in notifications}) == 1200
    in_space = {str(person.id) for person in people[:2]}
    assert {
        (n.target, n.payload["share_id"]) for n in notifications if n.payload.get("share_id")
    } >= {
        (str(r.share.recipient_id), r.share.id)
        for r in first.shares
        if str(r.share.recipient_id) not in in_space
    }
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok


async def test_shares_written_together_are_recorded_as_one_action(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    with pytest.raises(ValueError, match="recorded as the same action"):
        async with sharing.sharing(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, terms=None
        ) as made:
            await sharing.write(
                made,
                [
                    sharing.NewShare(kind="link", action="link.created", details={}),
                    sharing.NewShare(kind="link", action="link.watched", details={}),
                ],
            )
    async with env.sessions() as session:
        assert (await session.exec(select(Share))).all() == []


async def test_only_a_live_expiring_link_can_be_watched_for_going_unused(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    forever = await links.create_link(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id
    )
    direct = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    ends = clock.now() + timedelta(days=2)
    expiring = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        terms=ShareTerms(expires_at=ends),
    )
    other = await make_tenant(env, "globex")

    async def watch(share: Share, org_id: int = tenant.org_id) -> Share:
        assert share.id is not None
        return await links.watch_unused(
            env, org_id=org_id, actor=STAFF, share_id=share.id, staff_id=tenant.staff_id
        )

    with pytest.raises(InvalidInput, match="never expires"):
        await watch(forever.share)
    with pytest.raises(InvalidInput, match="is not a link"):
        await watch(direct.share)
    with pytest.raises(NotFound):
        await watch(expiring.share, other.org_id)
    watched = await watch(expiring.share)
    assert watched.notify_unused_expiry
    assert watched.created_by_staff_id == tenant.staff_id
    clock.at = ends
    with pytest.raises(Conflict, match="has expired already"):
        await watch(expiring.share)


async def test_a_share_that_ran_out_is_replaced_and_its_person_told_again(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    first = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=ShareTerms(expires_at=START + timedelta(days=1)),
    )
    clock.at = START + timedelta(days=2)
    second = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    assert second.created and second.share.id != first.share.id
    notices = await stored_notifications(env)
    assert [n.payload["share_id"] for n in notices] == [first.share.id, second.share.id]
    # A group share then finds the live one and changes nothing.
    group_id = await board(env, tenant, [tenant.recipient_id])
    grouped = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
    )
    assert [(r.created, r.share.id, r.token) for r in grouped.shares] == [
        (False, second.share.id, None)
    ]
    assert len(await stored_notifications(env)) == 2


async def test_a_space_share_tells_members_whose_other_shares_ran_out(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    colleague = await add_person(env, tenant, name="Carl Colleague")
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    old_room = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Old room", client_id=tenant.client_id
    )
    board = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", client_id=tenant.client_id
    )
    assert old_room.id is not None and board.id is not None
    for space_id, member in (
        (old_room.id, colleague),
        (board.id, colleague),
        (board.id, tenant.recipient_id),
    ):
        await spaces.add_space_member(
            env, org_id=tenant.org_id, actor=STAFF, space_id=space_id, recipient_id=member
        )
    # Rita's own share and the old room's share both end tomorrow.
    ends = ShareTerms(expires_at=START + timedelta(days=1))
    await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=ends,
    )
    await sharing.share_with_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        space_id=old_room.id,
        terms=ends,
    )
    before = len(await stored_notifications(env))
    clock.at = START + timedelta(days=2)

    result = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=board.id
    )

    assert result.notified == 2
    told = [n.target for n in await stored_notifications(env)][before:]
    assert sorted(told) == sorted([str(tenant.recipient_id), str(colleague)])


@pytest.mark.parametrize("read_whole", [False, True])
async def test_a_group_share_tells_no_one_who_holds_the_document_through_a_space_in_force(
    env: Env, tenant: Tenant, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, read_whole: bool
) -> None:
    """Members holding the document through a space are given their own share, untold;
    one whose space share has ended is told. With ``read_whole`` the document's shares are
    read whole, as for a group of more than `IN_LIST`."""
    if read_whole:
        monkeypatch.setattr(sharing, "IN_LIST", 1)
    carl = await add_person(env, tenant, name="Carl Colleague")
    dora = await add_person(env, tenant, name="Dora Director")
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    for name, member, terms in (
        ("Room", tenant.recipient_id, None),
        ("Old room", dora, ShareTerms(expires_at=START + timedelta(days=1))),
    ):
        space = await spaces.create_space(
            env, org_id=tenant.org_id, actor=STAFF, name=name, client_id=tenant.client_id
        )
        assert space.id is not None
        await spaces.add_space_member(
            env, org_id=tenant.org_id, actor=STAFF, space_id=space.id, recipient_id=member
        )
        await sharing.share_with_space(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            space_id=space.id,
            terms=terms,
        )
    group_id = await board(env, tenant, [tenant.recipient_id, carl, dora])
    before = len(await stored_notifications(env))
    clock.at = START + timedelta(days=2)

    result = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
    )

    assert sorted(r.share.recipient_id for r in result.shares if r.created) == sorted(
        [tenant.recipient_id, carl, dora]
    )
    told = [n.target for n in await stored_notifications(env)][before:]
    assert sorted(told) == sorted([str(carl), str(dora)])
