"""What every feature's listeners need: who is asking, whether they are staff, and how the
answer or a refusal reaches them.

Listeners just call workflows. Every listener is added through `RefusingApp`, so a workflow
error one lets through is answered by `refuse`, the one mapping of the Slack app: a short
message beside what the person did, an error on the form's first field, or no options for
a search. A listener catches an error itself only to do something else with it, such as
showing it on the field it is about.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Who
from bot.slack.views import MAX_OPTIONS, Block, Errors, View, sentence
from storage.errors import store_unreachable
from workflows.context import Env
from workflows.errors import Unavailable, WorkflowError
from workflows.people import staff
from workflows.people.staff import StaffContext

log = logging.getLogger(__name__)
Options = list[Block]
Finder = Callable[[StaffContext, str], Awaitable[Options]]
"""The options of a searched select for what was typed, in the person's organisation."""
Listener = Callable[..., Awaitable[None]]
Matcher = Callable[..., Awaitable[bool]]
Plan = TypeVar("Plan")


class RefusingApp:
    """Bolt's app as the Slack features see it: each listener added here is wrapped in
    `refusing`, so none of them has to catch a workflow's refusal to answer it."""

    def __init__(self, app: AsyncApp) -> None:
        self.app = app

    def command(self, command: str) -> Callable[[Listener], Listener]:
        return _adding(self.app.command(command))

    def action(self, action_id: str) -> Callable[[Listener], Listener]:
        return _adding(self.app.action(action_id))

    def options(self, action_id: str) -> Callable[[Listener], Listener]:
        return _adding(self.app.options(action_id))

    def view(self, callback_id: str) -> Callable[[Listener], Listener]:
        return _adding(self.app.view(callback_id))

    def shortcut(self, callback_id: str) -> Callable[[Listener], Listener]:
        return _adding(self.app.shortcut(callback_id))

    def event(
        self, event: str, *, matchers: Sequence[Matcher] = ()
    ) -> Callable[[Listener], Listener]:
        return _adding(self.app.event(event, matchers=list(matchers) or None))


def _adding(add: Callable[..., Any]) -> Callable[[Listener], Listener]:
    def adding(listener: Listener) -> Listener:
        add(refusing(listener))
        return listener

    return adding


def refusing(listener: Listener) -> Listener:
    """``listener`` as bolt calls it, with a workflow error it lets through answered by
    `refuse` instead of reaching bolt as a failure, and so is a failed connection, such as
    the database out of reach (`OUT_OF_REACH`, logged in one line). Bolt passes a listener
    the arguments it names; the wrapper takes them all (``args``) and passes on those."""
    names = list(inspect.signature(listener).parameters)

    async def listen(args: AsyncArgs) -> None:
        try:
            await listener(**{name: getattr(args, name) for name in names})
        except WorkflowError as error:
            await refuse(
                error, body=args.body, ack=args.ack, respond=args.respond, client=args.client
            )
        except Exception as error:
            if not store_unreachable(error):
                raise
            log.warning(
                "a Slack %s failed, a connection failed: %s",
                args.body.get("type") or "command",
                type(error).__name__,
            )
            await refuse(
                Unavailable(OUT_OF_REACH),
                body=args.body,
                ack=args.ack,
                respond=args.respond,
                client=args.client,
            )

    return listen


OUT_OF_REACH = "a service Inkpost needs cannot be reached just now; please try again soon"


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


async def tell(respond: AsyncRespond, message: Message) -> None:
    """Answer the person alone, beside the message they acted on."""
    await respond(response_type="ephemeral", replace_original=False, **message)


def suggestions(env: Env, find: Finder) -> Listener:
    """A block_suggestion listener answering with ``find``'s options for what was typed;
    anyone who is not staff is offered nothing (`refuse`)."""

    async def suggest(ack: AsyncAck, body: dict[str, Any], context: Any) -> None:
        staff_context = await staff_of(env, who_of(context, body))
        options = await find(staff_context, str(body.get("value") or ""))
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


async def refuse(
    error: WorkflowError,
    *,
    body: dict[str, Any],
    ack: AsyncAck,
    respond: AsyncRespond | None,
    client: AsyncWebClient,
) -> None:
    """Tell the person why a workflow refused what they asked, as the request allows.

    Not yet acknowledged, a form's submission stays open with the refusal on its first
    field, and a search offers nothing; anything else is acknowledged, then the refusal
    goes beside what the person did (``respond``) or, with no response_url (a form already
    closed, the Home tab, an event), to their direct messages. Only the kind of request and
    of error is logged.
    """
    kind = body.get("type")
    log.info("refused a Slack %s: %s", kind or "command", type(error).__name__)
    if ack.response is None:
        field = first_input(body.get("view") or {}) if kind == "view_submission" else None
        if field is not None:
            await ack(response_action="errors", errors={field: sentence(str(error))})
            return
        if kind == "block_suggestion":
            await ack(options=[])
            return
        await ack()
    message = blocks.refusal(str(error))
    user_id = _user_of(body)
    try:
        if respond is not None and respond.response_url:
            await tell(respond, message)
        elif user_id:
            await client.chat_postMessage(channel=user_id, **message)
    except SlackApiError as failure:
        log.warning("could not tell of a refusal: %s", failure.response.get("error"))
    except (aiohttp.ClientError, TimeoutError):
        log.warning("could not tell of a refusal", exc_info=True)


def first_input(view: dict[str, Any]) -> str | None:
    """The block_id of a form's first input, where a refusal of the whole form shows."""
    found = (b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input")
    return next((str(block_id) for block_id in found if block_id), None)


def _user_of(body: dict[str, Any]) -> str:
    """Who sent a request: an interaction's user, a command's, or an event's."""
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "")
    return str(body.get("user_id") or (body.get("event") or {}).get("user") or "")
