"""`/inkpost webhooks`: administrators see the organisation's webhook endpoints, add one in
a modal (its signing secret comes once, in a direct message), give one a new secret (also
sent in a direct message; the old one goes on signing for a day) and remove one, each with
a button.

The changes themselves are `workflows.webhooks.endpoints`, as in the CLI's `inkpost
webhooks`; deliveries and retries are the CLI's (and the API's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks import Message, escape
from bot.slack.feature import Subcommand, Usage, Who
from bot.slack.listeners import RefusingApp, action_value, open_form, staff_of, who_of
from bot.slack.views import (
    Block,
    Errors,
    View,
    actions,
    button,
    context_block,
    input_block,
    modal_view,
    option,
    placeholder,
    section,
    sentence,
)
from workflows.context import Env
from workflows.errors import InvalidInput, WorkflowError
from workflows.people.staff import StaffContext, require_admin
from workflows.webhooks import endpoints
from workflows.webhooks.addresses import AddressPolicy, check_url
from workflows.webhooks.endpoints import EndpointView
from workflows.webhooks.events import EventType

ADD = "webhooks_add"
REMOVE = "webhooks_remove"
ROTATE = "webhooks_rotate"
CALLBACK = "webhooks_form"
URL = "webhooks_url"
EVENTS = "webhooks_events"
TO = "manage webhooks"
SHOWN = 40


@dataclass(frozen=True)
class Plan:
    context: StaffContext
    url: str
    events: list[str]


class Webhooks:
    """The endpoint list for administrators, the modal that adds one, the Remove button."""

    usage = (
        Usage(
            "webhooks",
            "the endpoints your own systems are called at; add or remove one (admins)",
            "/inkpost webhooks",
        ),
    )

    def __init__(self, env: Env, *, policy: AddressPolicy) -> None:
        self.env = env
        self.policy = policy

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"webhooks": lambda call: self.listing(call.who)}

    def register(self, app: RefusingApp) -> None:
        @app.action(ADD)
        async def add(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            await ack()
            view = await self.form(who_of(context, body))
            await open_form(client, trigger_id=str(body.get("trigger_id") or ""), view=view)

        @app.action(REMOVE)
        async def remove(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            who = who_of(context, body)
            note = await self.remove(who, action_value(body))
            await respond(replace_original=True, **await self.listing(who, note=note))

        @app.action(ROTATE)
        async def rotate(
            ack: AsyncAck,
            respond: AsyncRespond,
            body: dict[str, Any],
            context: Any,
            client: AsyncWebClient,
        ) -> None:
            await ack()
            who = who_of(context, body)
            secret, note = await self.rotate(who, action_value(body))
            await client.chat_postMessage(channel=who.user_id, **secret)
            await respond(replace_original=True, **await self.listing(who, note=note))

        @app.view(CALLBACK)
        async def submitted(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            who = who_of(context, body)
            plan = await self.check(who, body["view"]["state"]["values"])
            if isinstance(plan, dict):
                await ack(response_action="errors", errors=plan)
                return
            await ack()
            await client.chat_postMessage(channel=who.user_id, **await self.carry_out(plan))

    async def listing(self, who: Who, *, note: str | None = None) -> Message:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        found = await endpoints.list_endpoints(context.env, org_id=context.org_id)
        return endpoints_message(context.organization.name, found, note=note)

    async def form(self, who: Who) -> View:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        return add_modal()

    async def check(self, who: Who, values: Mapping[str, Any]) -> Plan | Errors:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        url = str((values.get(URL, {}).get(URL) or {}).get("value") or "")
        picked = (values.get(EVENTS, {}).get(EVENTS) or {}).get("selected_options") or []
        events = [str(o.get("value") or "") for o in picked]
        try:
            url = check_url(url, self.policy)
        except InvalidInput as e:
            return {URL: sentence(str(e))[:150]}
        if not events:
            return {EVENTS: "Pick at least one event"}
        if not all(e in set(EventType) for e in events):
            return {EVENTS: "That event is not one Inkpost offered"}
        return Plan(context, url, events)

    async def carry_out(self, plan: Plan) -> Message:
        """Register the endpoint; the message with its secret, or why not."""
        context = plan.context
        try:
            made = await endpoints.register_endpoint(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                url=plan.url,
                events=plan.events,
                policy=self.policy,
            )
        except WorkflowError as error:
            text = f"Nothing changed: {error}"
            return {"text": text, "blocks": [section(escape(sentence(text)))]}
        endpoint = made.endpoint
        text = f"Webhook endpoint {endpoint.id} added: {endpoint.url}"
        return {
            "text": text,
            "blocks": [
                section(f":electric_plug: {escape(text)}"),
                section(f"Signing secret: `{made.secret}`"),
                context_block(
                    "Shown only now: give it to the receiver, which verifies every request "
                    "as Standard Webhooks prescribes. Events: " + escape(", ".join(endpoint.events))
                ),
            ],
        }

    async def rotate(self, who: Who, value: str) -> tuple[Message, str]:
        """A new secret for the endpoint the button names: the direct message that
        carries it, and the note for the list."""
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        if not value.isdigit():
            raise InvalidInput("this button does not name an endpoint")
        made = await endpoints.rotate_secret(
            context.env, org_id=context.org_id, actor=context.actor, endpoint_id=int(value)
        )
        hours = f"{endpoints.ROTATION_OVERLAP.total_seconds() / 3600:g}"
        text = f"New signing secret of webhook endpoint {value}: {made.endpoint.url}"
        secret: Message = {
            "text": text,
            "blocks": [
                section(f":key: {escape(text)}"),
                section(f"Signing secret: `{made.secret}`"),
                context_block(
                    f"Shown only now. The old secret signs beside it for {hours} hours: "
                    "give the receiver the new one before then."
                ),
            ],
        }
        return secret, f"Endpoint {value} has a new secret, sent to you in a direct message."

    async def remove(self, who: Who, value: str) -> str:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        if not value.isdigit():
            raise InvalidInput("this button does not name an endpoint")
        cancelled = await endpoints.remove_endpoint(
            context.env, org_id=context.org_id, actor=context.actor, endpoint_id=int(value)
        )
        noun = "delivery" if cancelled == 1 else "deliveries"
        return f"Endpoint {value} removed; {cancelled} {noun} not yet made were cancelled."


# -- what it shows -------------------------------------------------------------------------


def endpoints_message(
    organisation: str, found: Sequence[EndpointView], *, note: str | None = None
) -> Message:
    blocks: list[Block] = []
    if note:
        blocks.append(section(f":white_check_mark: {escape(note)}"))
    blocks.append(section(f"*Webhook endpoints of {escape(organisation)}*"))
    if not found:
        blocks.append(context_block("None yet: add one to have your own systems called."))
    for endpoint in found[:SHOWN]:
        state = "on" if endpoint.enabled else f"off ({endpoint.disabled_reason or 'turned off'})"
        line = f"*{endpoint.id}* · {escape(endpoint.url)} · {escape(state)}\n" + escape(
            ", ".join(endpoint.events)
        )
        confirm = {
            "title": {"type": "plain_text", "text": "Remove the endpoint?"},
            "text": {
                "type": "plain_text",
                "text": f"{endpoint.url} gets nothing more, and what it has not received "
                "is cancelled."[:300],
            },
            "confirm": {"type": "plain_text", "text": "Remove"},
            "deny": {"type": "plain_text", "text": "Keep"},
        }
        renew = {
            "title": {"type": "plain_text", "text": "Give it a new secret?"},
            "text": {
                "type": "plain_text",
                "text": "The new secret comes in a direct message; the old one signs beside "
                f"it for {endpoints.ROTATION_OVERLAP.total_seconds() / 3600:g} hours.",
            },
            "confirm": {"type": "plain_text", "text": "New secret"},
            "deny": {"type": "plain_text", "text": "Keep"},
        }
        blocks.append(section(line))
        blocks.append(
            actions(
                [
                    button(ROTATE, "New secret", str(endpoint.id), confirm=renew),
                    button(REMOVE, "Remove", str(endpoint.id), style="danger", confirm=confirm),
                ]
            )
        )
    if len(found) > SHOWN:
        blocks.append(context_block(f"and {len(found) - SHOWN} more: `inkpost webhooks list`"))
    blocks.append(actions([button(ADD, "Add endpoint…", "add", style="primary")]))
    return {"text": f"Webhook endpoints of {organisation}", "blocks": blocks}


def add_modal() -> View:
    url: Block = {
        "type": "plain_text_input",
        "action_id": URL,
        "placeholder": placeholder("https://erp.example.com/hooks/inkpost"),
    }
    events: Block = {
        "type": "checkboxes",
        "action_id": EVENTS,
        "options": [option(event.value, event.value) for event in EventType],
    }
    return modal_view(
        CALLBACK,
        title="Add a webhook",
        submit="Add",
        blocks=[
            input_block(URL, "URL", url, hint="Requests are signed; redirects are not followed."),
            input_block(EVENTS, "Events", events),
        ],
    )
