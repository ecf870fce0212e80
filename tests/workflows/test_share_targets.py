"""Checking targets before sharing with several at once; finding recipients by name."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import add_person, upload
from workflows.context import Env, FixedClock
from workflows.people import groups, recipients, spaces
from workflows.sharing import sharing, targets


async def test_targets_that_may_be_shared_with_raise_no_problem(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Board")
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Panel", client_id=tenant.client_id
    )
    assert document.id is not None and group.id is not None and space.id is not None
    await groups.add_to_group(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        group_id=group.id,
        recipient_ids=[tenant.recipient_id],
    )

    problems = await targets.check_targets(
        env,
        org_id=tenant.org_id,
        document_id=document.id,
        recipient_ids=[tenant.recipient_id],
        group_ids=[group.id],
        space_ids=[space.id],
    )

    assert not problems


async def test_every_refused_target_is_named_and_nothing_is_shared(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    other = await make_tenant(env, "globex")
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    blocked = await add_person(env, tenant, name="Bo Blocked")
    ended = await add_person(
        env, tenant, name="Ed Ended", access_expires_at=START + timedelta(days=1)
    )
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=blocked, blocked=True
    )
    empty = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Empty")
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Panel", client_id=tenant.client_id
    )
    assert document.id is not None and empty.id is not None and space.id is not None
    await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=space.id
    )
    clock.at = START + timedelta(days=2)

    problems = await targets.check_targets(
        env,
        org_id=tenant.org_id,
        document_id=document.id,
        recipient_ids=[blocked, ended, other.recipient_id],
        group_ids=[empty.id, 999],
        space_ids=[space.id],
    )

    assert problems.recipients == [
        "cannot share: recipient Bo Blocked is blocked",
        "cannot share: recipient Ed Ended's access ended on 2026-11-24 12:00 UTC",
        f"recipient {other.recipient_id} not found",
    ]
    assert problems.groups == ["group Empty has no members", "group 999 not found"]
    assert problems.spaces == [f"{document.ref} is already shared with space Panel"]
    assert len(await sharing.list_shares(env, org_id=tenant.org_id)) == 1


async def test_a_revoked_space_share_may_be_shared_again(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Panel", client_id=tenant.client_id
    )
    assert document.id is not None and space.id is not None
    shared = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, space_id=space.id
    )
    assert shared.share.share.id is not None
    await sharing.revoke_share(
        env, org_id=tenant.org_id, actor=STAFF, share_id=shared.share.share.id
    )

    problems = await targets.check_targets(
        env, org_id=tenant.org_id, document_id=document.id, space_ids=[space.id]
    )

    assert not problems


async def test_recipients_are_found_by_part_of_their_name_in_their_organisation(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "globex")
    await add_person(env, tenant, name="Anna Berg")
    await add_person(env, tenant, name="Hanna 100%")
    await add_person(env, tenant, name="Bert")

    found = await recipients.search_recipients(env, org_id=tenant.org_id, name="ANNA")
    literal = await recipients.search_recipients(env, org_id=tenant.org_id, name="0%")
    everyone = await recipients.search_recipients(env, org_id=other.org_id, name="", limit=5)

    assert [r.name for r in found] == ["Anna Berg", "Hanna 100%"]
    assert [r.name for r in literal] == ["Hanna 100%"]
    assert [r.name for r in everyone] == ["Rita Recipient"]
