"""`/inkpost staff`: administrators see the staff and which clients each may see, and wall
a member off to named clients (or let them see every client again) in a modal.

Only administrators are shown the list or may save the modal; the change itself is
`workflows.people.client_access.limit_staff`, as in the CLI's `inkpost staff limit`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import Message, escape
from bot.slack.feature import Subcommand, Usage, Who
from bot.slack.listeners import (
    RefusingApp,
    action_value,
    open_form,
    staff_of,
    suggestions,
    who_of,
)
from bot.slack.views import (
    MAX_OPTIONS,
    Block,
    Errors,
    View,
    button,
    context_block,
    input_block,
    modal_view,
    option,
    placeholder,
    section,
    sentence,
)
from storage.models import Client, StaffUser
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import InvalidInput, WorkflowError
from workflows.people import client_access, organizations
from workflows.people.client_access import ClientAccess
from workflows.people.staff import StaffContext, require_admin

EDIT = "staff_clients_edit"
CALLBACK = "staff_clients_form"
SCOPE = "staff_clients_scope"
CLIENTS = "staff_clients_pick"
EVERY, ONLY = "every", "only"
SHOWN = 40
"""Staff listed in one message (Slack takes 50 blocks); the rest are counted."""
TO = "see and limit which clients staff see"


@dataclass(frozen=True)
class Plan:
    context: StaffContext
    staff_id: int
    client_ids: list[int] | None


class StaffClients:
    """The staff list for administrators, and the modal that walls a member off."""

    usage = (
        Usage(
            "staff",
            "staff and the clients each may see; limit a member to named clients (admins)",
            "/inkpost staff",
        ),
    )

    def __init__(self, env: Env) -> None:
        self.env = env

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"staff": lambda call: self.listing(call.who)}

    def register(self, app: RefusingApp) -> None:
        app.options(CLIENTS)(suggestions(self.env, self.client_options))

        @app.action(EDIT)
        async def edit(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            await ack()
            view = await self.form(who_of(context, body), action_value(body))
            await open_form(client, trigger_id=str(body.get("trigger_id") or ""), view=view)

        @app.view(CALLBACK)
        async def submitted(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            who = who_of(context, body)
            view = body["view"]
            plan = await self.check(
                who, view.get("private_metadata") or "", view["state"]["values"]
            )
            if isinstance(plan, dict):
                await ack(response_action="errors", errors=plan)
                return
            await ack()
            await client.chat_postMessage(channel=who.user_id, **await self.carry_out(plan))

    async def listing(self, who: Who) -> Message:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        members = await organizations.list_staff(context.env, org_id=context.org_id)
        walled = await client_access.client_accesses(context.env, org_id=context.org_id)
        accesses = [
            ClientAccess(m, walled.get(id_of(m), ()) if m.walled else None) for m in members
        ]
        return staff_message(context.organization.name, accesses)

    async def client_options(self, context: StaffContext, typed: str) -> list[Block]:
        require_admin(context, to=TO)
        found = await organizations.find_clients(
            context.env, org_id=context.org_id, words=typed, limit=MAX_OPTIONS
        )
        return [_client_option(c) for c in found]

    async def form(self, who: Who, value: str) -> View:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        if not value.isdigit():
            raise InvalidInput("this button does not name a staff member")
        access = await client_access.client_access(
            context.env, org_id=context.org_id, staff_id=int(value)
        )
        return clients_modal(access)

    async def check(self, who: Who, metadata: str, values: Mapping[str, Any]) -> Plan | Errors:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        if not metadata.isdigit():
            raise InvalidInput("this form does not name a staff member")
        scope = (values.get(SCOPE, {}).get(SCOPE) or {}).get("selected_option") or {}
        picked = (values.get(CLIENTS, {}).get(CLIENTS) or {}).get("selected_options") or []
        ids = [str(o.get("value") or "") for o in picked]
        if scope.get("value") not in (EVERY, ONLY):
            return {SCOPE: "Pick every client or only some"}
        if scope["value"] == EVERY:
            return Plan(context, int(metadata), None)
        if not ids:
            return {CLIENTS: "Pick at least one client, or let them see every client"}
        if not all(i.isdigit() for i in ids):
            return {CLIENTS: "That client is not one Inkpost offered"}
        return Plan(context, int(metadata), [int(i) for i in ids])

    async def carry_out(self, plan: Plan) -> Message:
        """Save the change; the message that says what the member now sees, or why not
        (the form is closed by then, so the refusal says what it is about)."""
        context = plan.context
        try:
            access = await client_access.limit_staff(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                staff_id=plan.staff_id,
                client_ids=plan.client_ids,
            )
        except WorkflowError as error:
            text = f"Nothing changed: {error}"
            return {"text": text, "blocks": [section(escape(sentence(text)))]}
        return limited_message(access, channel=context.organization.slack_channel)


# -- what it shows -------------------------------------------------------------------------


def staff_message(organisation: str, accesses: Sequence[ClientAccess]) -> Message:
    blocks: list[Block] = [section(f"*Staff of {escape(organisation)}*")]
    for access in accesses[:SHOWN]:
        member = access.staff
        line = f"*{escape(member.name)}* · {_role(member)} · {escape(_sees(access))}"
        edit = None
        if member.role != "admin":
            edit = button(EDIT, "Clients…", str(id_of(member)))
        blocks.append(section(line, edit))
    if len(accesses) > SHOWN:
        more = len(accesses) - SHOWN
        blocks.append(context_block(f"and {more} more: `inkpost staff list` shows everyone"))
    return {"text": f"Staff of {organisation}", "blocks": blocks}


def clients_modal(access: ClientAccess) -> View:
    member = access.staff
    every = option("Every client", EVERY)
    only = option("Only the clients below", ONLY)
    scope: Block = {
        "type": "radio_buttons",
        "action_id": SCOPE,
        "options": [every, only],
        "initial_option": every if access.clients is None else only,
    }
    pick: Block = {
        "type": "multi_external_select",
        "action_id": CLIENTS,
        "min_query_length": 0,
        "placeholder": placeholder("Type a client's name"),
    }
    if access.clients:
        pick["initial_options"] = [_client_option(c) for c in access.clients]
    return modal_view(
        CALLBACK,
        title="Clients they see",
        submit="Save",
        private_metadata=str(id_of(member)),
        blocks=[
            section(
                f"*{escape(member.name)}* sees and acts on the documents, people and "
                "requests of these clients only; nothing of any other client reaches them "
                "in Slack, the CLI or their notices."
            ),
            input_block(SCOPE, "Which clients", scope),
            input_block(CLIENTS, "Clients", pick, optional=True),
        ],
    )


def limited_message(access: ClientAccess, *, channel: str | None) -> Message:
    name = access.staff.name
    text = f"{name} now sees {_sees(access)}."
    blocks = [section(f":lock: {escape(text)}")]
    if access.clients is not None and channel:
        blocks.append(
            context_block(
                f"Staff notices about every client go to <#{channel}>: keep "
                f"{escape(name)} out of it."
            )
        )
    return {"text": text, "blocks": blocks}


def _sees(access: ClientAccess) -> str:
    return "every client" if access.clients is None else f"only {access.names}"


def _role(member: StaffUser) -> str:
    role = "administrator" if member.role == "admin" else "member"
    return role if member.status == "active" else f"{role}, blocked"


def _client_option(client: Client) -> Block:
    return option(client.name, str(id_of(client)))
