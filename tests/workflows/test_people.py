"""Organisations, staff, clients, recipients, groups and spaces."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import STAFF, START, Tenant, make_tenant
from workflows.context import Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.people import groups, organizations, recipients, spaces


async def test_an_organisation_starts_with_the_default_categories(env: Env) -> None:
    org = await organizations.create_organization(env, slug="Acme", name="Acme Law", actor=STAFF)
    assert org.slug == "acme"
    assert org.categories == ["contract", "annex", "fee table", "invoice", "statement", "other"]
    assert (await organizations.get_organization(env)).id == org.id


@pytest.mark.parametrize(
    ("slug", "name", "message"),
    [("bad slug", "X", "not a valid organisation slug"), ("ok", "  ", "must not be empty")],
)
async def test_bad_organisations_are_refused(env: Env, slug: str, name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        await organizations.create_organization(env, slug=slug, name=name, actor=STAFF)
    assert await organizations.list_organizations(env) == []


async def test_duplicates_are_conflicts(env: Env, tenant: Tenant) -> None:
    with pytest.raises(Conflict, match="slug 'acme' already exists"):
        await organizations.create_organization(env, slug="acme", name="Again", actor=STAFF)
    with pytest.raises(Conflict, match="client named"):
        await organizations.add_client(env, org_id=tenant.org_id, actor=STAFF, name="nordic TIMBER")
    with pytest.raises(Conflict, match="email stella@acme.test"):
        await organizations.add_staff(
            env, org_id=tenant.org_id, actor=STAFF, name="Twin", email="stella@acme.test"
        )
    await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Board")
    with pytest.raises(Conflict, match="group named"):
        await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="board")


async def test_several_organisations_need_a_name(env: Env, tenant: Tenant) -> None:
    await make_tenant(env, "globex")
    with pytest.raises(InvalidInput, match="several organisations"):
        await organizations.get_organization(env)
    with pytest.raises(NotFound, match="'initech' not found"):
        await organizations.get_organization(env, slug="initech")


async def test_staff_can_be_blocked_and_unblocked(env: Env, tenant: Tenant) -> None:
    blocked = await organizations.set_staff_status(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=tenant.staff_id, blocked=True
    )
    assert blocked.status == "blocked"
    with pytest.raises(Conflict, match="already blocked"):
        await organizations.set_staff_status(
            env, org_id=tenant.org_id, actor=STAFF, staff_id=tenant.staff_id, blocked=True
        )
    with pytest.raises(InvalidInput, match="role must be one of"):
        await organizations.add_staff(env, org_id=tenant.org_id, actor=STAFF, name="X", role="god")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "not an email address"),
        ({"phone": "call me"}, "not a phone number"),
        ({"language": "de"}, "language must be one of en, pl, ru, sv"),
        ({"access_expires_at": START - timedelta(days=1)}, "must be in the future"),
        ({"name": ""}, "name must not be empty"),
    ],
)
async def test_bad_recipients_are_refused(
    env: Env, tenant: Tenant, fields: dict[str, object], message: str
) -> None:
    values: dict[str, object] = {"name": "Nina New", **fields}
    with pytest.raises(InvalidInput, match=message):
        await recipients.add_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            client_id=tenant.client_id,
            **values,  # type: ignore[arg-type]
        )
    assert len(await recipients.list_recipients(env, org_id=tenant.org_id)) == 1


async def test_recipients_can_be_edited_blocked_and_unblocked(env: Env, tenant: Tenant) -> None:
    edited = await recipients.edit_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        recipient_id=tenant.recipient_id,
        language="pl",
        phone="+48 600 100 200",
        access_expires_at=START + timedelta(days=30),
    )
    assert (edited.language, edited.phone) == ("pl", "+48 600 100 200")
    cleared = await recipients.edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, email=None
    )
    assert cleared.email is None and cleared.phone == "+48 600 100 200"
    with pytest.raises(InvalidInput, match="nothing to change"):
        await recipients.edit_recipient(
            env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
        )
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    unblocked = await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=False
    )
    assert unblocked.status == "invited"
    with pytest.raises(Conflict, match="not blocked"):
        await recipients.set_recipient_blocked(
            env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=False
        )


async def test_groups_count_their_members(env: Env, tenant: Tenant) -> None:
    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Board")
    assert group.id is not None
    added = await groups.add_to_group(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        group_id=group.id,
        recipient_ids=[tenant.recipient_id, tenant.recipient_id],
    )
    again = await groups.add_to_group(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        group_id=group.id,
        recipient_ids=[tenant.recipient_id],
    )
    assert (added, again) == (1, 0)
    (summary,) = await groups.list_groups(env, org_id=tenant.org_id)
    assert summary.members == 1
    with pytest.raises(InvalidInput, match="at least one recipient"):
        await groups.add_to_group(
            env, org_id=tenant.org_id, actor=STAFF, group_id=group.id, recipient_ids=[]
        )


async def test_space_membership_rules(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    space = await spaces.create_space(env, org_id=tenant.org_id, actor=STAFF, name="Panel")
    assert space.id is not None
    await spaces.add_space_member(
        env, org_id=tenant.org_id, actor=STAFF, space_id=space.id, recipient_id=tenant.recipient_id
    )
    with pytest.raises(Conflict, match="already a member"):
        await spaces.add_space_member(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            space_id=space.id,
            recipient_id=tenant.recipient_id,
        )
    with pytest.raises(NotFound, match="recipient"):
        await spaces.add_space_member(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            space_id=space.id,
            recipient_id=other.recipient_id,
        )
    with pytest.raises(NotFound, match="space"):
        await spaces.list_spaces(env, org_id=other.org_id) or await spaces.space_members(
            env, org_id=other.org_id, space_id=space.id
        )
    await spaces.remove_space_member(
        env, org_id=tenant.org_id, actor=STAFF, space_id=space.id, recipient_id=tenant.recipient_id
    )
    with pytest.raises(NotFound, match="not a member"):
        await spaces.remove_space_member(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            space_id=space.id,
            recipient_id=tenant.recipient_id,
        )
    assert await spaces.space_members(env, org_id=tenant.org_id, space_id=space.id) == []
