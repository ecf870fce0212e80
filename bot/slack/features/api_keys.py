"""`/inkpost api-keys`: administrators see the organisation's keys of the integration API
(name, scopes, clients, last use) and revoke one with a button.

Keys are made with the CLI's `inkpost api-key create`, which prints the key once; the
revocation itself is `workflows.api_keys.revoke_key`, as in `inkpost api-key revoke`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack.blocks import Message, escape
from bot.slack.feature import Subcommand, Usage, Who
from bot.slack.listeners import RefusingApp, action_value, staff_of, who_of
from bot.slack.views import Block, button, context_block, section
from workflows import api_keys
from workflows.api_keys import KeySummary
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.people.staff import require_admin

REVOKE = "api_keys_revoke"
TO = "manage API keys"
SHOWN = 40


class ApiKeys:
    """The key list for administrators, with a Revoke button on each key."""

    usage = (
        Usage(
            "api-keys",
            "the keys other systems use the integration API with; revoke one (admins)",
            "/inkpost api-keys",
        ),
    )

    def __init__(self, env: Env) -> None:
        self.env = env

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"api-keys": lambda call: self.listing(call.who)}

    def register(self, app: RefusingApp) -> None:
        @app.action(REVOKE)
        async def revoke(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            who = who_of(context, body)
            note = await self.revoke(who, action_value(body))
            await respond(replace_original=True, **await self.listing(who, note=note))

    async def listing(self, who: Who, *, note: str | None = None) -> Message:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        found = await api_keys.list_keys(context.env, org_id=context.org_id)
        return keys_message(context.organization.name, found, note=note)

    async def revoke(self, who: Who, value: str) -> str:
        context = await staff_of(self.env, who)
        require_admin(context, to=TO)
        if not value.isdigit():
            raise InvalidInput("this button does not name an API key")
        key = await api_keys.revoke_key(
            context.env, org_id=context.org_id, actor=context.actor, key_id=int(value)
        )
        return f"API key '{key.name}' revoked: every request with it is refused from now on."


def keys_message(
    organisation: str, found: Sequence[KeySummary], *, note: str | None = None
) -> Message:
    blocks: list[Block] = []
    if note:
        blocks.append(section(f":white_check_mark: {escape(note)}"))
    blocks.append(section(f"*API keys of {escape(organisation)}*"))
    if not found:
        blocks.append(context_block("None yet: `inkpost api-key create NAME --scope read`."))
    for summary in found[:SHOWN]:
        key = summary.key
        clients = (
            "clients " + ", ".join(str(c) for c in summary.client_ids)
            if key.walled
            else "every client"
        )
        used = (
            f"last used {key.last_used_at:%Y-%m-%d %H:%M} UTC" if key.last_used_at else "never used"
        )
        line = (
            f"*{escape(key.name)}* · `{escape(key.prefix)}…` · {escape(', '.join(key.scopes))}\n"
            f"{escape(clients)} · {escape(used)}"
        )
        confirm = {
            "title": {"type": "plain_text", "text": "Revoke the key?"},
            "text": {
                "type": "plain_text",
                "text": f"Every request with '{key.name}' is refused from now on."[:300],
            },
            "confirm": {"type": "plain_text", "text": "Revoke"},
            "deny": {"type": "plain_text", "text": "Keep"},
        }
        blocks.append(
            section(line, button(REVOKE, "Revoke", str(key.id), style="danger", confirm=confirm))
        )
    if len(found) > SHOWN:
        blocks.append(context_block(f"and {len(found) - SHOWN} more: `inkpost api-key list`"))
    return {"text": f"API keys of {organisation}", "blocks": blocks}
