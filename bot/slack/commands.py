"""What `/inkpost` and its buttons do: a plain call of a workflow, its result as a message.

Nothing here knows bolt; `bot.slack.app` passes in team, user and text and sends back the
message. Workflow errors become one short message in `answer`, the one mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta

from bot.slack import blocks
from bot.slack.blocks import Message
from workflows import audit, documents, search, sharing, staff
from workflows.context import Env
from workflows.errors import InvalidInput, WorkflowError

DEFAULT_LINK_DAYS = 7
MAX_LINK_DAYS = 365


@dataclass(frozen=True)
class Who:
    """The Slack user behind a request, in their workspace."""

    team_id: str
    user_id: str


async def answer(work: Awaitable[Message]) -> Message:
    """The message for the person who asked: the result, or why it could not be done."""
    try:
        return await work
    except WorkflowError as error:
        return blocks.refusal(str(error))


class Commands:
    """The `/inkpost` subcommands for one organisation store and public URL."""

    def __init__(self, env: Env, *, public_url: str) -> None:
        self.env = env
        self.public_url = public_url.rstrip("/")

    async def run(self, who: Who, text: str) -> Message:
        name, _, rest = text.strip().partition(" ")
        name, rest = name.lower(), rest.strip()
        if name in ("", "help"):
            return blocks.help_message()
        if name == "link":
            return await answer(self.link(who, rest))
        if name == "history":
            return await answer(self.history(who, rest))
        if name == "find":
            return await answer(self.find(who, rest))
        return blocks.help_message(f"I don't know `{name}`. This is what I can do:")

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
