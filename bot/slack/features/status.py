"""`/inkpost status` and the App Home tab: what waits, what recipients just did, what failed.

Both show `workflows.overview` for the staff member's organisation. A failed delivery has
a Retry button, in the status message, in the Home tab and under the notice that told of
it; retrying from the Home tab publishes it afresh, from a message replaces the message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message, escape, when
from bot.slack.feature import Subcommand, Usage, Who
from bot.slack.listeners import RefusingApp, action_value, staff_of, team_of, who_of
from bot.slack.notices import RETRY_FROM_NOTICE
from bot.slack.views import button, context_block, plain, section
from workflows import overview
from workflows.context import Env
from workflows.errors import InvalidInput, WorkflowError
from workflows.outbox.kinds import Kind
from workflows.overview import Awaiting, FailedDelivery, Overview, Unopened, Visit

RETRY_FROM_STATUS = "status_retry"
SHOWN = 10
"""Entries of each kind shown; the rest are counted."""
KIND_LABELS: dict[str, str] = {
    Kind.DOCUMENT_SHARED: "Share notice",
    Kind.AVAILABILITY_ENDING: "Reminder (availability ending)",
    Kind.ACCESS_ENDING: "Reminder (access ending)",
    Kind.SIGN_INVITE: "Signature request",
    Kind.SIGN_CODE: "One-time code",
    Kind.SIGN_REMINDER: "Reminder (signature request)",
    Kind.SIGN_ENDED: "Signature request ended",
    Kind.SIGN_COMPLETED: "Signature request completed",
    Kind.SIGNED_FILE: "Signed file",
    Kind.PORTAL_SIGN_IN: "Portal sign-in link",
    Kind.INVITATION: "Invitation",
    Kind.CABINET_DOCUMENT: "Cabinet notice (new document)",
    Kind.CABINET_JOINED: "Cabinet notice (colleague added)",
    Kind.CABINET_LEFT: "Cabinet notice (colleague left)",
    Kind.DOCUMENT_OPENED: "Staff notice (opened)",
    Kind.DOCUMENT_DOWNLOADED: "Staff notice (downloaded)",
    Kind.DOCUMENT_RETURNED: "Staff notice (returned)",
    Kind.DELIVERY_FAILED: "Staff notice (failed delivery)",
    Kind.DOCUMENT_UNOPENED: "Staff notice (not opened yet)",
    Kind.LINK_UNUSED: "Staff notice (link unused)",
    Kind.RECIPIENT_ACCESS_ENDING: "Staff notice (access ending)",
    Kind.SIGN_STATUS: "Staff notice (signature request)",
    Kind.DEAD_SUMMARY: "Staff notice (failed deliveries of the day)",
    Kind.SEAL_REQUEST: "Sealing",
    Kind.WEBHOOK: "Webhook",
    Kind.WEBHOOK_DISABLED: "Staff notice (webhook endpoint turned off)",
}
"""What each kind of delivery is called in the list of failed ones."""


class Status:
    """`/inkpost status`, the Home tab, and the Retry buttons of failed deliveries."""

    usage = (
        Usage(
            "status",
            "documents not opened yet, latest opens and downloads, failed deliveries",
            "/inkpost status",
        ),
    )

    def __init__(self, env: Env, *, shown: int = SHOWN) -> None:
        self.env = env
        self.shown = shown

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"status": lambda call: self.status(call.who)}

    def register(self, app: RefusingApp) -> None:
        @app.event("app_home_opened")
        async def home_opened(
            event: dict[str, Any], body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            if event.get("tab", "home") != "home":
                return
            who = Who(team_id=team_of(context, body), user_id=str(event.get("user") or ""))
            await self.publish_home(client, who)

        @app.action(RETRY_FROM_STATUS)
        async def retry_from_status(
            ack: AsyncAck,
            respond: AsyncRespond,
            body: dict[str, Any],
            context: Any,
            client: AsyncWebClient,
        ) -> None:
            await ack()
            who = who_of(context, body)
            note = await self.retry(who, action_value(body))
            if (body.get("container") or {}).get("type") == "view":
                await self.publish_home(client, who, note=note)
            else:
                message = await self.status(who, note=note)
                await respond(replace_original=True, **message)

        @app.action(RETRY_FROM_NOTICE)
        async def retry_from_notice(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            retried_by = await self._retry(who_of(context, body), action_value(body))
            message = body.get("message") or {}
            await respond(replace_original=True, **retried_notice(message, retried_by))

    async def status(self, who: Who, *, note: Message | None = None) -> Message:
        context = await staff_of(self.env, who)
        found = await overview.overview(context.env, org_id=context.org_id, limit=self.shown)
        return status_message(found, note=note)

    async def publish_home(
        self, client: AsyncWebClient, who: Who, *, note: Message | None = None
    ) -> None:
        """Publish the Home tab as it is now; someone who is not staff sees why not there,
        the one place the Home tab can show it."""
        try:
            context = await staff_of(self.env, who)
            found = await overview.overview(context.env, org_id=context.org_id, limit=self.shown)
            view = home_view(found, organisation=context.organization.name, note=note)
        except WorkflowError as error:
            view = {"type": "home", "blocks": blocks.refusal(str(error))["blocks"]}
        await client.views_publish(user_id=who.user_id, view=view)

    async def retry(self, who: Who, value: str) -> Message:
        """Retry what a status button names; a line saying what happened, for the view.
        A refusal is that line too: the status is redrawn around it, as it is now."""
        try:
            await self._retry(who, value)
        except WorkflowError as error:
            return blocks.refusal(str(error))
        text = f"Delivery {value} will be tried again now."
        return {"text": text, "blocks": [section(f":arrows_counterclockwise: {escape(text)}")]}

    async def _retry(self, who: Who, value: str) -> str:
        """Retry the notifications a button names; returns who did it."""
        context = await staff_of(self.env, who)
        ids = _ids(value)
        await overview.retry_failed(context.env, org_id=context.org_id, ids=ids)
        return context.staff.name


def _ids(value: str) -> list[int]:
    parts = [part.strip() for part in value.split(",")]
    if not parts or not all(part.isdigit() for part in parts):
        raise InvalidInput("this button does not name a delivery")
    return [int(part) for part in parts]


# -- Block Kit ---------------------------------------------------------------------------


def status_message(found: Overview, *, note: Message | None = None) -> Message:
    waiting = found.unopened_total
    text = (
        f"Inkpost status: {found.awaiting_total} requests waiting for decisions, "
        f"{waiting} documents not opened by everyone, {found.failed_total} failed deliveries"
    )
    return {"text": text, "blocks": _note(note) + _overview_blocks(found)}


def home_view(found: Overview, *, organisation: str, note: Message | None = None) -> Message:
    heading = {"type": "header", "text": plain(f"Inkpost · {organisation}"[:150])}
    return {"type": "home", "blocks": [heading, *_note(note), *_overview_blocks(found)]}


def retried_notice(message: dict[str, Any], retried_by: str) -> Message:
    """A failed-delivery notice with its button replaced by who retried it."""
    kept = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
    kept.append(context_block(f":arrows_counterclockwise: Retried by {escape(retried_by)}"))
    return {"text": str(message.get("text") or "Delivery retried"), "blocks": kept}


def _note(note: Message | None) -> list[Message]:
    return list(note["blocks"]) if note else []


def _overview_blocks(found: Overview) -> list[Message]:
    return [
        *_awaiting_blocks(found.awaiting, found.awaiting_total),
        {"type": "divider"},
        *_unopened_blocks(found.unopened, found.unopened_total),
        {"type": "divider"},
        *_recent_blocks(found.recent),
        {"type": "divider"},
        *_failed_blocks(found.failed, found.failed_total),
    ]


def _doc(document: Any) -> str:
    return f"*{document.ref}* {escape(document.title)}" if document is not None else "a document"


def _awaiting_blocks(awaiting: Sequence[Awaiting], total: int) -> list[Message]:
    heading = section(f"*Waiting for decisions* ({total})")
    if not awaiting:
        return [heading, context_block("No signature request is waiting.")]
    lines = []
    for item in awaiting:
        request = item.request
        line = (
            f"*{request.ref}* {escape(request.title)} · {item.decided} of {item.deciding} decided"
        )
        if request.status == "sealing":
            line += " · sealing"
        elif item.waiting_for:
            line += f" · waiting for {escape(', '.join(item.waiting_for[:5]))}"
        lines.append(line)
    result = [heading, section("\n".join(lines))]
    if total > len(awaiting):
        result.append(context_block(f"{total - len(awaiting)} more not shown"))
    return result


def _unopened_blocks(unopened: Sequence[Unopened], total: int) -> list[Message]:
    heading = section(f"*Not opened yet* ({total})")
    if not unopened:
        return [heading, context_block("Every shared document has been opened by everyone.")]
    lines = [
        f"{_doc(u.document)} · {u.opened} of {u.recipients} opened"
        f" · shared {when(u.last_shared_at)}"
        for u in unopened
    ]
    result = [heading, section("\n".join(lines))]
    if total > len(unopened):
        result.append(context_block(f"{total - len(unopened)} more not shown"))
    return result


def _recent_blocks(recent: Sequence[Visit]) -> list[Message]:
    heading = section("*Recently opened or downloaded*")
    if not recent:
        return [heading, context_block("Nobody has opened or downloaded a document yet.")]
    verbs: dict[str, str] = {Kind.DOCUMENT_OPENED: "opened", Kind.DOCUMENT_DOWNLOADED: "downloaded"}
    lines = [
        f"{when(v.at)} · {escape(v.who)} {verbs.get(v.action, v.action)} {_doc(v.document)}"
        for v in recent
    ]
    return [heading, section("\n".join(lines))]


def _failed_blocks(failed: Sequence[FailedDelivery], total: int) -> list[Message]:
    heading = section(f"*Failed deliveries* ({total})")
    if not failed:
        return [heading, context_block("No delivery has failed.")]
    result = [heading]
    for item in failed:
        label = KIND_LABELS.get(item.kind, item.kind)
        lines = f"{escape(label)} to {escape(item.to)} · {_doc(item.document)}"
        if item.error:
            lines += f"\n_{escape(item.error[:300])}_"
        retry = button(RETRY_FROM_STATUS, "Retry", str(item.notification_id))
        result.append(section(lines, retry))
    if total > len(failed):
        result.append(
            context_block(
                f"{total - len(failed)} more not shown; `inkpost outbox retry --all` retries all"
            )
        )
    return result
