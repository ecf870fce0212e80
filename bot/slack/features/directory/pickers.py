"""The options of the directory's searchable selects: what matches the typed text, in the
organisation of the person typing, at most the 100 Slack shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.slack.features.directory.forms import parse_modal
from bot.slack.views import MAX_OPTIONS, option
from storage.models import Recipient
from workflows.context import Env
from workflows.people import groups, organizations, recipients, spaces
from workflows.people.staff import StaffContext

Options = list[dict[str, Any]]
Offer = Callable[[Env, StaffContext, str, dict[str, Any]], Awaitable[Options]]


async def offer_clients(
    env: Env, context: StaffContext, typed: str, body: dict[str, Any]
) -> Options:
    found = await organizations.find_clients(
        env, org_id=context.org_id, words=typed, limit=MAX_OPTIONS
    )
    return [option(c.name, str(c.id)) for c in found]


async def offer_recipients(
    env: Env, context: StaffContext, typed: str, body: dict[str, Any]
) -> Options:
    found = await recipients.search_recipients(
        env, org_id=context.org_id, name=typed, limit=MAX_OPTIONS
    )
    return _people(found, "")


async def offer_members(
    env: Env, context: StaffContext, typed: str, body: dict[str, Any]
) -> Options:
    """The members of the group or space the modal edits: the only ones it may remove."""
    modal = parse_modal(str((body.get("view") or {}).get("private_metadata") or ""))
    if modal.id is None:
        return []
    if modal.kind == "group":
        members = await groups.list_group_members(env, org_id=context.org_id, group_id=modal.id)
    elif modal.kind == "space":
        members = await spaces.space_members(env, org_id=context.org_id, space_id=modal.id)
    else:
        return []
    return _people(members, typed)


async def offer_spaces(
    env: Env, context: StaffContext, typed: str, body: dict[str, Any]
) -> Options:
    found = await spaces.list_spaces(env, org_id=context.org_id)
    return _named([(s.space.name, s.space.id) for s in found], typed)


async def offer_groups(
    env: Env, context: StaffContext, typed: str, body: dict[str, Any]
) -> Options:
    found = await groups.list_groups(env, org_id=context.org_id)
    return _named([(g.group.name, g.group.id) for g in found], typed)


def _named(found: Sequence[tuple[str, int | None]], typed: str) -> Options:
    wanted = typed.lower()
    return [option(name, str(i)) for name, i in found if wanted in name.lower()][:MAX_OPTIONS]


def _people(found: Sequence[Recipient], typed: str) -> Options:
    wanted = typed.lower()
    return [option(label(r), str(r.id)) for r in found if wanted in r.name.lower()][:MAX_OPTIONS]


def label(recipient: Recipient) -> str:
    """A recipient as a picker shows them: the email tells two of the same name apart."""
    return f"{recipient.name} · {recipient.email}" if recipient.email else recipient.name
