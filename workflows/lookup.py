"""Who or what someone means: a recipient, client, group, space or staff member named by its
id or by its name (recipients and staff also by email), as a person types it.

An id must belong to the organisation (another tenant's id is "not found", as a name would
be). A name matches whole and regardless of case; a name that several rows share
is refused with the candidates listed, so that nobody acts on the wrong Jane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlmodel import col, select

from storage.models import Client, Group, Recipient, Space, StaffUser
from workflows.context import Env
from workflows.errors import InvalidInput, NotFound

Kind = Literal["recipient", "client", "group", "space", "staff member"]
SHOWN = 10
"""Candidates listed at most in a refusal."""


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    email: str | None = None

    def __str__(self) -> str:
        return f"{self.id} {self.name}" + (f" <{self.email}>" if self.email else "")


_MODELS: dict[Kind, Any] = {
    "recipient": Recipient,
    "client": Client,
    "group": Group,
    "space": Space,
    "staff member": StaffUser,
}


async def resolve(env: Env, *, org_id: int, kind: Kind, value: str) -> int:
    """The id of the one ``kind`` that ``value`` names in organisation ``org_id``."""
    text = value.strip()
    if text.isdigit():
        return await _existing(env, org_id=org_id, kind=kind, id=int(text))
    if not text:
        raise InvalidInput(f"name a {kind} by its id or name")
    everyone = await candidates(env, org_id=org_id, kind=kind)
    wanted = text.casefold()
    matches = [
        c
        for c in everyone
        if c.name.casefold() == wanted or (c.email is not None and c.email.casefold() == wanted)
    ]
    if len(matches) == 1:
        return matches[0].id
    if matches:
        raise InvalidInput(
            f"'{value}' names {len(matches)} {_plural(kind)}: {_listed(matches)}; give the id"
        )
    known = _listed(everyone) if everyone else "none yet"
    raise NotFound(f"no {kind} is called '{value}' ({_plural(kind)}: {known})")


async def _existing(env: Env, *, org_id: int, kind: Kind, id: int) -> int:
    model = _MODELS[kind]
    async with env.sessions() as session:
        found = (
            await session.exec(select(model.id).where(model.org_id == org_id, model.id == id))
        ).first()
    if found is None:
        raise NotFound(f"{kind} {id} not found")
    return id


async def candidates(env: Env, *, org_id: int, kind: Kind) -> list[Candidate]:
    """Every ``kind`` of the organisation as id, name (and email), oldest first."""
    model = _MODELS[kind]
    columns = [model.id, model.name]
    if kind in ("recipient", "staff member"):
        columns.append(model.email)
    query = select(*columns).where(model.org_id == org_id).order_by(col(model.id))
    if kind == "recipient":
        query = query.where(Recipient.status != "deleted")
    async with env.sessions() as session:
        rows: Sequence[Any] = (await session.exec(query)).all()
    return [Candidate(*row) for row in rows]


def _listed(found: Sequence[Candidate]) -> str:
    shown = ", ".join(str(c) for c in found[:SHOWN])
    return shown + (f" and {len(found) - SHOWN} more" if len(found) > SHOWN else "")


def _plural(kind: Kind) -> str:
    return "staff members" if kind == "staff member" else f"{kind}s"
