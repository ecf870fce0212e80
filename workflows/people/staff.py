"""Who is acting from a chat workspace: the organisation of a Slack team and its staff."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select

from storage.models import Organization, StaffUser
from storage.rows import id_of
from workflows.context import Actor, Env
from workflows.errors import NotAllowed, NotFound
from workflows.people.client_access import wall_of


@dataclass(frozen=True)
class StaffContext:
    """A staff member at work, with the environment they act in: behind their wall, if
    they have one, where no other client's rows exist."""

    organization: Organization
    staff: StaffUser
    env: Env = field(repr=False)

    @property
    def org_id(self) -> int:
        return id_of(self.organization)

    @property
    def actor(self) -> Actor:
        return Actor.staff(id_of(self.staff), self.staff.name)

    @property
    def is_admin(self) -> bool:
        return self.staff.role == "admin"


async def staff_of_slack(env: Env, *, team_id: str, user_id: str) -> StaffContext:
    """The staff member behind a Slack user of a connected workspace.

    Anyone else is refused with who can grant access; blocked staff are refused.
    """
    async with env.reads() as session:
        organization = (
            await session.exec(select(Organization).where(Organization.slack_team_id == team_id))
        ).first()
        if organization is None:
            raise NotFound("this Slack workspace is not connected to Inkpost")
        staff = (
            await session.exec(
                select(StaffUser).where(
                    StaffUser.org_id == organization.id, StaffUser.slack_user_id == user_id
                )
            )
        ).first()
        if staff is None:
            admins = (
                await session.exec(
                    select(StaffUser.name)
                    .where(
                        StaffUser.org_id == organization.id,
                        StaffUser.role == "admin",
                        StaffUser.status == "active",
                    )
                    .order_by(col(StaffUser.id))
                )
            ).all()
            who = ", ".join(admins) if admins else "an administrator of Inkpost"
            raise NotAllowed(
                f"you are not registered as staff of {organization.name}; ask {who} for access"
            )
        wall = await wall_of(session, staff)
    if staff.status == "blocked":
        raise NotAllowed(f"your access to {organization.name} is blocked")
    return StaffContext(organization=organization, staff=staff, env=env.walled(wall))


def require_admin(context: StaffContext, *, to: str) -> None:
    if not context.is_admin:
        raise NotAllowed(f"only administrators may {to}")
