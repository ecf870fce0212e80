"""Organisations (tenants), their staff and their clients, and how clients reach them."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import CompoundSelect, union_all
from sqlmodel import col, func, select

from storage.models import (
    Client,
    Organization,
    PartyLink,
    PersonalLink,
    PortalSession,
    Share,
    SignInRequest,
    StaffUser,
    UnsubscribeLink,
)
from storage.rows import id_of
from storage.walls import EVERY_CLIENT
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotFound
from workflows.scope import clean_text, get_scoped
from workflows.tokens import hash_token, well_formed

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ROLES = ("admin", "member")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_IN_ADDRESS = r"@\s<>()\[\]\\,;:\"?&/"
CONTACT_EMAIL = re.compile(
    rf"^[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}.]+(\.[^{_NOT_IN_ADDRESS}.]+)+$"
)
"""An address clients can write to, and safe in a ``mailto:`` link: nothing that would
add a subject, a second recipient or a path."""
PHONE = re.compile(r"^[0-9 +()-]+$")
MAX_EMAIL = 320
MAX_PHONE = 32
MIN_PHONE_DIGITS = 3


def address_hash(email: str) -> str:
    """An email address as rate limits and sign-in requests keep it: hashed, whatever its
    case and surrounding spaces."""
    return hashlib.sha256(email.strip().casefold().encode()).hexdigest()


def check_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not EMAIL.match(email) or len(email) > 320:
        raise InvalidInput(
            f"'{email}' is not an email address", says="refusal.email.invalid", address=email
        )
    return email


def check_contact_email(email: str | None) -> str | None:
    """The address clients may write to, as staff type it; None (or blank) for none."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if len(email) > MAX_EMAIL or not email.isprintable() or not CONTACT_EMAIL.match(email):
        raise InvalidInput(
            f"'{email}' is not an email address clients can write to: "
            "use one like office@example.com"
        )
    return email


def check_contact_phone(phone: str | None) -> str | None:
    """The number clients may call, as staff type it; None (or blank) for none."""
    if phone is None or not phone.strip():
        return None
    phone = " ".join(phone.split())
    digits = sum(ch.isdigit() for ch in phone)
    if len(phone) > MAX_PHONE or not PHONE.match(phone) or digits < MIN_PHONE_DIGITS:
        raise InvalidInput(
            f"'{phone}' is not a phone number: use digits, spaces, +, -, ( and ), "
            f"up to {MAX_PHONE} characters, like +46 8 123 456 78"
        )
    return phone


async def create_organization(
    env: Env,
    *,
    slug: str,
    name: str,
    actor: Actor,
    slack_team_id: str | None = None,
    default_language: str = "en",
    timezone: str = "UTC",
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> Organization:
    """A new organisation; ``contact_email`` and ``contact_phone`` are how its clients
    reach it (shown on the pages that tell them something went wrong)."""
    slug = slug.strip().lower()
    if not SLUG.match(slug):
        raise InvalidInput(
            f"'{slug}' is not a valid organisation slug: use a-z, 0-9 and '-', up to 63 characters"
        )
    title = clean_text(name, what="organisation name", max_len=200)
    assert title is not None
    email, phone = check_contact_email(contact_email), check_contact_phone(contact_phone)
    async with env.sessions() as session, session.begin():
        if (await session.exec(select(Organization).where(Organization.slug == slug))).first():
            raise Conflict(f"an organisation with slug '{slug}' already exists")
        if (
            slack_team_id
            and (
                await session.exec(
                    select(Organization).where(Organization.slack_team_id == slack_team_id)
                )
            ).first()
        ):
            raise Conflict(f"Slack team {slack_team_id} already belongs to an organisation")
        org = Organization(
            slug=slug,
            name=title,
            slack_team_id=slack_team_id or None,
            default_language=default_language,
            timezone=timezone,
            created_at=env.clock.now(),
            contact_email=email,
            contact_phone=phone,
        )
        session.add(org)
        await session.flush()
        org_id = id_of(org)
        await audit.start_chain(session, org_id)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="organization.created",
            at=env.clock.now(),
            details={"slug": slug, "name": title}
            | ({"contact_email": email} if email else {})
            | ({"contact_phone": phone} if phone else {}),
        )
    return org


async def get_organization(env: Env, *, slug: str | None = None) -> Organization:
    """The organisation with ``slug``; without one, the only organisation there is."""
    async with env.sessions() as session:
        if slug:
            org = (
                await session.exec(select(Organization).where(Organization.slug == slug.lower()))
            ).first()
            if org is None:
                raise NotFound(f"organisation '{slug}' not found")
            return org
        orgs = (await session.exec(select(Organization).limit(2))).all()
        if not orgs:
            raise NotFound("there is no organisation yet")
        if len(orgs) > 1:
            raise InvalidInput("there are several organisations: name one")
        return orgs[0]


async def list_organizations(env: Env) -> Sequence[Organization]:
    async with env.sessions() as session:
        return (await session.exec(select(Organization).order_by(col(Organization.id)))).all()


async def add_staff(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    name: str,
    email: str | None = None,
    slack_user_id: str | None = None,
    role: str = "member",
) -> StaffUser:
    env.require_every_client(to="add staff")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    title = clean_text(name, what="name", max_len=200)
    assert title is not None
    email = check_email(email)
    async with env.sessions() as session, session.begin():
        for column, value, what in (
            (StaffUser.email, email, "email"),
            (StaffUser.slack_user_id, slack_user_id, "Slack user"),
        ):
            if (
                value
                and (
                    await session.exec(
                        select(StaffUser).where(StaffUser.org_id == org_id, column == value)
                    )
                ).first()
            ):
                raise Conflict(f"a staff member with {what} {value} already exists")
        staff = StaffUser(
            org_id=org_id,
            name=title,
            email=email,
            slack_user_id=slack_user_id or None,
            role=role,
            created_at=env.clock.now(),
        )
        session.add(staff)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="staff.added",
            at=env.clock.now(),
            details={"staff_id": staff.id, "name": title, "role": role},
        )
    return staff


async def list_staff(env: Env, *, org_id: int) -> Sequence[StaffUser]:
    async with env.sessions() as session:
        return (
            await session.exec(
                select(StaffUser).where(StaffUser.org_id == org_id).order_by(col(StaffUser.id))
            )
        ).all()


async def get_staff(env: Env, *, org_id: int, staff_id: int) -> StaffUser:
    async with env.sessions() as session:
        return await get_scoped(session, StaffUser, org_id=org_id, id=staff_id, what="staff member")


async def set_staff_status(
    env: Env, *, org_id: int, actor: Actor, staff_id: int, blocked: bool
) -> StaffUser:
    env.require_every_client(to="block or unblock staff")
    status = "blocked" if blocked else "active"
    async with env.sessions() as session, session.begin():
        staff = await get_scoped(
            session, StaffUser, org_id=org_id, id=staff_id, what="staff member", lock=True
        )
        if staff.status == status:
            raise Conflict(f"staff member {staff.name} is already {status}")
        staff.status = status
        session.add(staff)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="staff.blocked" if blocked else "staff.unblocked",
            at=env.clock.now(),
            details={"staff_id": staff_id, "name": staff.name},
        )
    return staff


async def add_client(
    env: Env, *, org_id: int, actor: Actor, name: str, shared_cabinet: bool = False
) -> Client:
    env.require_every_client(to="add clients")
    title = clean_text(name, what="client name", max_len=200)
    assert title is not None
    async with env.sessions() as session, session.begin():
        exists = await session.exec(
            select(Client).where(Client.org_id == org_id, func.lower(Client.name) == title.lower())
        )
        if exists.first():
            raise Conflict(f"a client named '{title}' already exists")
        client = Client(
            org_id=org_id, name=title, shared_cabinet=shared_cabinet, created_at=env.clock.now()
        )
        session.add(client)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="client.added",
            at=env.clock.now(),
            details={"client_id": client.id, "name": title, "shared_cabinet": shared_cabinet},
        )
    return client


async def list_clients(env: Env, *, org_id: int) -> Sequence[Client]:
    async with env.sessions() as session:
        return (
            await session.exec(
                select(Client).where(Client.org_id == org_id).order_by(col(Client.id))
            )
        ).all()


async def find_clients(env: Env, *, org_id: int, words: str = "", limit: int) -> Sequence[Client]:
    """Clients whose name holds ``words`` (any case), by name: what a picker offers."""
    query = select(Client).where(Client.org_id == org_id)
    if typed := words.strip():
        query = query.where(col(Client.name).icontains(typed, autoescape=True))
    async with env.reads() as session:
        return (await session.exec(query.order_by(col(Client.name)).limit(limit))).all()


async def edit_client(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    client_id: int,
    name: str | None = None,
    shared_cabinet: bool | None = None,
) -> Client:
    """Rename a client or turn its shared cabinet on or off; None leaves a field as it is."""
    title = clean_text(name, what="client name", max_len=200) if name is not None else None
    async with env.sessions() as session, session.begin():
        client = await get_scoped(
            session, Client, org_id=org_id, id=client_id, what="client", lock=True
        )
        changes: dict[str, str | bool] = {}
        if title is not None and title != client.name:
            clash = await session.exec(
                select(Client)
                .where(
                    Client.org_id == org_id,
                    func.lower(Client.name) == title.lower(),
                    Client.id != client_id,
                )
                .execution_options(**EVERY_CLIENT)
            )
            if clash.first():
                raise Conflict(f"a client named '{title}' already exists")
            changes["name"] = title
        if shared_cabinet is not None and shared_cabinet != client.shared_cabinet:
            changes["shared_cabinet"] = shared_cabinet
        if not changes:
            return client
        for field, value in changes.items():
            setattr(client, field, value)
        session.add(client)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="client.edited",
            at=env.clock.now(),
            details={"client_id": client_id, "changed": changes},
        )
    return client


async def set_active_content(env: Env, *, org_id: int, actor: Actor, allow: bool) -> Organization:
    """Accept (or refuse again) PDFs that run code by themselves; recorded in the history."""
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, org_id, with_for_update=True)
        if organization is None:
            raise NotFound("organisation not found")
        if organization.allow_active_content != allow:
            organization.allow_active_content = allow
            session.add(organization)
            await audit.record(
                session,
                org_id=org_id,
                actor=actor,
                action="organization.active_content_set",
                at=env.clock.now(),
                details={"allow": allow},
            )
    return organization


async def set_contacts(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    email: str | None = None,
    phone: str | None = None,
) -> Organization:
    """Set how clients reach the organisation: ``email`` and ``phone`` as staff type them,
    blank to remove one, None to leave it as it is. A change is recorded in the history."""
    wanted: dict[str, str | None] = {}
    if email is not None:
        wanted["contact_email"] = check_contact_email(email)
    if phone is not None:
        wanted["contact_phone"] = check_contact_phone(phone)
    async with env.sessions() as session, session.begin():
        organization = await session.get(Organization, org_id, with_for_update=True)
        if organization is None:
            raise NotFound("organisation not found")
        changed = {
            field: value for field, value in wanted.items() if getattr(organization, field) != value
        }
        if not changed:
            return organization
        for field, value in changed.items():
            setattr(organization, field, value)
        session.add(organization)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="organization.contacts_set",
            at=env.clock.now(),
            details={"changed": changed},
        )
    return organization


@dataclass(frozen=True)
class Contact:
    """Who a client asks when something went wrong: the organisation's name and the
    contacts it gave (either may be missing)."""

    name: str
    email: str | None
    phone: str | None

    @property
    def dial(self) -> str | None:
        """The phone number as a ``tel:`` link dials it: a leading + and digits."""
        if self.phone is None:
            return None
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        return ("+" if self.phone.startswith("+") else "") + digits


_TOKEN_HOLDERS = (Share, PersonalLink, PartyLink, SignInRequest, UnsubscribeLink)
"""Every kind of link Inkpost sends a client, each holding its token's hash."""


async def contact_behind(
    env: Env, *, token: str | None = None, portal_session: str | None = None
) -> Contact | None:
    """The organisation a link ``token`` (of any kind, in any state: expired, revoked,
    used up) or else a portal session's cookie belongs to; None when it belongs to none,
    so that a made-up link learns no organisation."""
    secret = token if token is not None else portal_session
    if not secret or not well_formed(secret):
        return None
    digest = hash_token(secret)
    holders = _TOKEN_HOLDERS if token is not None else (PortalSession,)
    owners: CompoundSelect[tuple[int]] = union_all(
        *(select(holder.org_id).where(col(holder.token_hash) == digest) for holder in holders)
    )
    async with env.reads() as session:
        found = (
            await session.exec(
                select(Organization).where(col(Organization.id).in_(owners.scalar_subquery()))
            )
        ).first()
    if found is None:
        return None
    return Contact(name=found.name, email=found.contact_email, phone=found.contact_phone)
