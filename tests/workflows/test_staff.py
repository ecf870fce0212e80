"""Recognising staff from a Slack workspace."""

from __future__ import annotations

import pytest

from tests.conftest import STAFF
from workflows.context import Env
from workflows.errors import NotAllowed, NotFound
from workflows.people import organizations
from workflows.people.staff import require_admin, staff_of_slack


async def _org(env: Env) -> int:
    org = await organizations.create_organization(
        env, slug="acme", name="Acme Law", actor=STAFF, slack_team_id="T0001"
    )
    assert org.id is not None
    await organizations.add_staff(
        env, org_id=org.id, actor=STAFF, name="Ada Admin", slack_user_id="UADMIN", role="admin"
    )
    await organizations.add_staff(
        env, org_id=org.id, actor=STAFF, name="Mel Member", slack_user_id="UMEMBER"
    )
    return org.id


async def test_a_slack_user_is_the_staff_member_of_the_workspaces_organisation(env: Env) -> None:
    await _org(env)
    admin = await staff_of_slack(env, team_id="T0001", user_id="UADMIN")
    member = await staff_of_slack(env, team_id="T0001", user_id="UMEMBER")
    assert admin.organization.name == "Acme Law" and admin.is_admin
    assert member.actor.label == "Mel Member" and not member.is_admin
    require_admin(admin, to="manage staff")
    with pytest.raises(NotAllowed, match="only administrators may manage staff"):
        require_admin(member, to="manage staff")


async def test_strangers_unknown_workspaces_and_blocked_staff_are_refused(env: Env) -> None:
    org_id = await _org(env)
    with pytest.raises(NotFound, match="not connected"):
        await staff_of_slack(env, team_id="T9999", user_id="UADMIN")
    with pytest.raises(NotAllowed, match="ask Ada Admin for access"):
        await staff_of_slack(env, team_id="T0001", user_id="USTRANGER")
    member = await staff_of_slack(env, team_id="T0001", user_id="UMEMBER")
    assert member.staff.id is not None
    await organizations.set_staff_status(
        env, org_id=org_id, actor=STAFF, staff_id=member.staff.id, blocked=True
    )
    with pytest.raises(NotAllowed, match="blocked"):
        await staff_of_slack(env, team_id="T0001", user_id="UMEMBER")
