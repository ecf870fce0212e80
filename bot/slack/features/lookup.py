"""Looking documents up from Slack: `/inkpost link`, `history` and `find`, and Revoke.

Each subcommand is a plain call of a workflow with its result as a message; workflow
errors become one short message in `bot.slack.listeners.refuse`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Subcommand, Usage, Who
from bot.slack.listeners import RefusingApp, action_value, staff_of, tell, who_of
from storage.rows import id_of
from workflows import audit
from workflows.context import Env
from workflows.documents import filing, search
from workflows.errors import InvalidInput, NotFound
from workflows.people import organizations
from workflows.people.staff import StaffContext
from workflows.sharing import links, sharing

DEFAULT_LINK_DAYS = 7
MAX_LINK_DAYS = 365
CLIENT_CHOICES = 6
"""Clients named in the answer when ``client:`` could mean several."""
SEARCHES_AT_ONCE = 8
"""Searches one process runs side by side; the others wait their turn. Fifty at once
would hold every connection of the pool (`storage.db.POOL_SIZE` and its overflow) for
the length of a search, and every other request, the acknowledgement of the next
command among them, would wait for one."""


class Lookup:
    """`/inkpost link`, `history` and `find`; Revoke under a link, Link and History under
    each search result."""

    usage = (
        Usage("link DOC [DAYS]", "a public link, valid 7 days unless told", "/inkpost link D-12 3"),
        Usage("history DOC", "who did what to a document, oldest first", "/inkpost history D-12"),
        Usage(
            "find WORDS [category:C] [client:NAME] [from:DATE] [to:DATE]",
            "documents whose title or text holds all words, narrowed by the filters",
            '/inkpost find fee client:"Nordic Timber" from:2026-01-01',
        ),
    )

    def __init__(self, env: Env, *, public_url: str) -> None:
        self.env = env
        self.public_url = public_url.rstrip("/")
        self._searching = asyncio.Semaphore(SEARCHES_AT_ONCE)

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {
            "link": lambda call: self.link(call.who, call.args),
            "history": lambda call: self.history(call.who, call.args),
            "find": lambda call: self.find(call.who, call.args),
        }

    def register(self, app: RefusingApp) -> None:
        @app.action(blocks.REVOKE_LINK)
        async def revoke(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            message = await self.revoke(who_of(context, body), action_value(body))
            await respond(replace_original=True, **message)

        @app.action(blocks.WATCH_LINK)
        async def watch(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            await tell(respond, await self.watch(who_of(context, body), action_value(body)))

        @app.action(blocks.FOUND_LINK)
        async def link_found(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            await tell(respond, await self.link(who_of(context, body), action_value(body)))

        @app.action(blocks.FOUND_HISTORY)
        async def history_found(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            await tell(respond, await self.history(who_of(context, body), action_value(body)))

    async def link(self, who: Who, args: str) -> Message:
        context = await staff_of(self.env, who)
        ref, _, days_text = args.partition(" ")
        days = _days(days_text.strip())
        document = await filing.find_document(context.env, org_id=context.org_id, ref=_ref(ref))
        result = await links.create_link(
            context.env,
            org_id=context.org_id,
            actor=context.actor,
            document_id=id_of(document),
            terms=sharing.ShareTerms(
                expires_at=context.env.clock.now() + timedelta(days=days),
                staff_id=context.staff.id,
            ),
        )
        assert result.token is not None
        return blocks.link_message(
            document,
            url=f"{self.public_url}/d/{result.token}",
            expires_at=result.share.expires_at,
            share_id=id_of(result.share),
        )

    async def revoke(self, who: Who, value: str) -> Message:
        context = await staff_of(self.env, who)
        if not value.isdigit():
            raise InvalidInput("this button does not name a link")
        share = await sharing.revoke_share(
            context.env, org_id=context.org_id, actor=context.actor, share_id=int(value)
        )
        return blocks.revoked_message(id_of(share), by=context.staff.name)

    async def watch(self, who: Who, value: str) -> Message:
        context = await staff_of(self.env, who)
        if not value.isdigit():
            raise InvalidInput("this button does not name a link")
        share = await links.watch_unused(
            context.env,
            org_id=context.org_id,
            actor=context.actor,
            share_id=int(value),
            staff_id=context.staff.id,
        )
        return blocks.watched_message(share)

    async def history(self, who: Who, args: str) -> Message:
        context = await staff_of(self.env, who)
        document = await filing.find_document(context.env, org_id=context.org_id, ref=_ref(args))
        events = await audit.document_history(
            context.env, org_id=context.org_id, document_id=id_of(document)
        )
        return blocks.history_message(document, events)

    async def find(self, who: Who, args: str) -> Message:
        async with self._searching:
            return await self._find(who, args)

    async def _find(self, who: Who, args: str) -> Message:
        context = await staff_of(self.env, who)
        typed = search.parse_typed(args)
        if typed.empty:
            raise InvalidInput("say what to look for, e.g. `/inkpost find fee table`")
        client_id = None
        if typed.client is not None:
            client_id = await _client_named(context, typed.client)
        query = search.SearchQuery(
            words=typed.words,
            category=typed.category,
            client_id=client_id,
            created_from=typed.created_from,
            created_until=typed.created_until,
        )
        found = await search.find_documents(context.env, org_id=context.org_id, query=query)
        return blocks.found_message(args, found)


async def _client_named(context: StaffContext, name: str) -> int:
    """The one client ``name`` means: its exact name (any case), else the only match."""
    matches = await organizations.find_clients(
        context.env, org_id=context.org_id, words=name, limit=CLIENT_CHOICES
    )
    exact = [c for c in matches if c.name.casefold() == name.casefold()]
    chosen = exact or list(matches)
    if not chosen:
        raise NotFound(f"no client is named like {name!r}")
    if len(chosen) > 1:
        names = ", ".join(c.name for c in chosen[: CLIENT_CHOICES - 1])
        raise InvalidInput(f"client:{name} could be {names}; quote the full name")
    return id_of(chosen[0])


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
