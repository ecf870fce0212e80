"""What every feature's listeners need: who is asking, whether they are staff, and how the
answer or a refusal reaches them.

Workflow errors become one short message in `answer`, the one mapping every feature uses;
in a modal they become field errors instead (`bot.slack.views.sentence`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Who
from bot.slack.views import MAX_OPTIONS, Block, Errors, View
from workflows.context import Env
from workflows.errors import Unavailable, WorkflowError
from workflows.people import staff
from workflows.people.staff import StaffContext

log = logging.getLogger(__name__)
Options = list[Block]
Finder = Callable[[StaffContext, str], Awaitable[Options]]
"""The options of a searched select for what was typed, in the person's organisation."""
Listener = Callable[..., Awaitable[None]]
Plan = TypeVar("Plan")


def form_submission(
    check: Callable[[Who, Mapping[str, Any]], Awaitable[Plan | Errors]],
    carry_out: Callable[[Plan], Awaitable[Message]],
) -> Listener:
    """The listener of a modal whose submission is checked whole first: any problem is
    shown on its field and the modal stays open; otherwise it closes and the result of
    carrying out the plan arrives as a direct message. ``check`` gives a plan, or the
    errors (a dict by field)."""

    async def submitted(
        ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
    ) -> None:
        who = who_of(context, body)
        plan = await check(who, body["view"]["state"]["values"])
        if isinstance(plan, dict):
            await ack(response_action="errors", errors=plan)
            return
        await ack()
        await client.chat_postMessage(channel=who.user_id, **await carry_out(plan))

    return submitted


def team_of(context: Any, body: dict[str, Any]) -> str:
    """The workspace of a request, wherever its kind of payload keeps it."""
    team = context.get("team_id") or body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team or "")


def who_of(context: Any, body: dict[str, Any]) -> Who:
    """The person behind an action, a view submission or an options request."""
    return Who(team_id=team_of(context, body), user_id=body["user"]["id"])


def action_value(body: dict[str, Any]) -> str:
    """The value of the button pressed."""
    return str(body["actions"][0].get("value") or "")


async def staff_of(env: Env, who: Who) -> StaffContext:
    """``who`` as staff of their organisation; NotAllowed for anyone else."""
    return await staff.staff_of_slack(env, team_id=who.team_id, user_id=who.user_id)


async def answer(work: Awaitable[Message]) -> Message:
    """The message for the person who asked: the result, or why it could not be done."""
    try:
        return await work
    except WorkflowError as error:
        return blocks.refusal(str(error))


async def tell(respond: AsyncRespond, message: Message) -> None:
    """Answer the person alone, beside the message they acted on."""
    await respond(response_type="ephemeral", replace_original=False, **message)


def suggestions(env: Env, find: Finder) -> Listener:
    """A block_suggestion listener answering with ``find``'s options for what was typed;
    anyone who is not staff is offered nothing."""

    async def suggest(ack: AsyncAck, body: dict[str, Any], context: Any) -> None:
        try:
            staff_context = await staff_of(env, who_of(context, body))
            options = await find(staff_context, str(body.get("value") or ""))
        except WorkflowError:
            options = []
        await ack(options=options[:MAX_OPTIONS])

    return suggest


async def open_form(client: AsyncWebClient, *, trigger_id: str, view: View) -> View:
    """Open ``view`` as a modal: the view as opened, or Unavailable when Slack refused (a
    trigger lasts 3 seconds)."""
    try:
        opened = await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as error:
        log.warning("views.open failed: %s", error.response.get("error"))
        raise Unavailable("Slack did not open the form in time; please try again") from error
    return dict(opened["view"])
