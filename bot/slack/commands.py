"""Looking documents up from Slack: `/inkpost link`, `history` and `find`, and Revoke.

Each subcommand is a plain call of a workflow with its result as a message. Workflow
errors become one short message in `answer`, the one mapping every feature uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from datetime import timedelta
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Subcommand, Usage, Who
from workflows import audit, documents, search, sharing, staff
from workflows.context import Env
from workflows.errors import InvalidInput, WorkflowError

DEFAULT_LINK_DAYS = 7
MAX_LINK_DAYS = 365


async def answer(work: Awaitable[Message]) -> Message:
    """The message for the person who asked: the result, or why it could not be done."""
    try:
        return await work
    except WorkflowError as error:
        return blocks.refusal(str(error))


def team_of(context: Any, body: dict[str, Any]) -> str:
    """The workspace of a request, wherever its kind of payload keeps it."""
    team = context.get("team_id") or body.get("team_id") or (body.get("team") or {}).get("id")
    return str(team or "")


class Lookup:
    """`/inkpost link`, `history` and `find`, and the Revoke button under a link."""

    usage = (
        Usage("link DOC [DAYS]", "a public link, valid 7 days unless told", "/inkpost link D-12 3"),
        Usage("history DOC", "who did what to a document, oldest first", "/inkpost history D-12"),
        Usage("find WORDS", "documents whose title or text holds all words", "/inkpost find fee"),
    )

    def __init__(self, env: Env, *, public_url: str) -> None:
        self.env = env
        self.public_url = public_url.rstrip("/")

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {
            "link": lambda call: answer(self.link(call.who, call.args)),
            "history": lambda call: answer(self.history(call.who, call.args)),
            "find": lambda call: answer(self.find(call.who, call.args)),
        }

    def register(self, app: AsyncApp) -> None:
        @app.action(blocks.REVOKE_LINK)
        async def revoke(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            who = Who(team_id=team_of(context, body), user_id=body["user"]["id"])
            value = str(body["actions"][0].get("value") or "")
            message = await answer(self.revoke(who, value))
            await respond(replace_original=True, **message)

    async def link(self, who: Who, args: str) -> Message:
        context = await staff.staff_of_slack(self.env, team_id=who.team_id, user_id=who.user_id)
        ref, _, days_text = args.partition(" ")
        days = _days(days_text.strip())
        document = await documents.find_document(self.env, org_id=context.org_id, ref=_ref(ref))
        assert document.id is not None
        result = await sharing.create_link(
            self.env,
            org_id=context.org_id,
            actor=context.actor,
            document_id=document.id,
            terms=sharing.ShareTerms(
                expires_at=self.env.clock.now() + timedelta(days=days),
                staff_id=context.staff.id,
            ),
        )
        assert result.token is not None and result.share.id is not None
        return blocks.link_message(
            document,
            url=f"{self.public_url}/d/{result.token}",
            expires_at=result.share.expires_at,
            share_id=result.share.id,
        )

    async def revoke(self, who: Who, value: str) -> Message:
        context = await staff.staff_of_slack(self.env, team_id=who.team_id, user_id=who.user_id)
        if not value.isdigit():
            raise InvalidInput("this button does not name a link")
        share = await sharing.revoke_share(
            self.env, org_id=context.org_id, actor=context.actor, share_id=int(value)
        )
        assert share.id is not None
        return blocks.revoked_message(share.id, by=context.staff.name)

    async def history(self, who: Who, args: str) -> Message:
        context = await staff.staff_of_slack(self.env, team_id=who.team_id, user_id=who.user_id)
        document = await documents.find_document(self.env, org_id=context.org_id, ref=_ref(args))
        assert document.id is not None
        events = await audit.document_history(
            self.env, org_id=context.org_id, document_id=document.id
        )
        return blocks.history_message(document, events)

    async def find(self, who: Who, args: str) -> Message:
        context = await staff.staff_of_slack(self.env, team_id=who.team_id, user_id=who.user_id)
        if not search.terms(args):
            raise InvalidInput("say what to look for, e.g. `/inkpost find fee table`")
        found = await search.find_documents(
            self.env, org_id=context.org_id, query=search.SearchQuery(words=args)
        )
        return blocks.found_message(args, found)


def _ref(text: str) -> str:
    ref = text.strip()
    if not ref:
        raise InvalidInput("name a document, e.g. D-12")
    return ref


def _days(text: str) -> int:
    if not text:
        return DEFAULT_LINK_DAYS
    if not text.isdigit() or not 1 <= int(text) <= MAX_LINK_DAYS:
        raise InvalidInput(f"the link lasts 1 to {MAX_LINK_DAYS} days, not {text!r}")
    return int(text)
