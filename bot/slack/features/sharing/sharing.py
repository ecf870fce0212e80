"""Sharing from Slack: `/inkpost share [DOC]`, its modal, and Share under search results.

The modal opens at once with a loading state (a trigger_id lasts 3 s) and is filled with
views.update once the organisation's groups and spaces are read; its document and
recipient pickers search as the person types. A submission is checked whole before it is
acknowledged, every target with `targets.check_targets`, so that each refusal shows on its
field and nothing is shared; the shares happen after the acknowledgement and the outcome
arrives as a direct message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Call, Subcommand, Usage, Who
from bot.slack.features.sharing.views import (
    ACROSS,
    ACROSS_LABEL,
    BLOCK_OF,
    CALLBACK,
    DATE,
    DAYS,
    DOCUMENT,
    GROUPS,
    MAX_DAYS,
    MAX_MESSAGE,
    MESSAGE,
    RECIPIENTS,
    SPACES,
    Outcome,
    document_option,
    group_option,
    loading_modal,
    recipient_option,
    share_modal,
    shared_message,
    space_option,
)
from bot.slack.listeners import (
    RefusingApp,
    action_value,
    form_submission,
    open_form,
    staff_of,
    suggestions,
    who_of,
)
from bot.slack.views import MAX_OPTIONS, Errors, joined, sentence
from storage.models import Document
from storage.rows import id_of
from workflows.context import Env
from workflows.documents import filing, search
from workflows.errors import WorkflowError
from workflows.people import groups, recipients, spaces
from workflows.people.staff import StaffContext
from workflows.sharing import sharing, targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """A checked submission: what to share, with whom, on what terms."""

    context: StaffContext
    document: Document
    recipient_ids: list[int]
    group_ids: list[int]
    space_ids: list[int]
    terms: sharing.ShareTerms


class Sharing:
    """`/inkpost share [DOC]`, the share modal and its pickers, and the Share button under
    each search result."""

    usage = (
        Usage(
            "share [DOC]",
            "share a document with recipients, groups or spaces",
            "/inkpost share D-12",
        ),
    )

    def __init__(self, env: Env) -> None:
        self.env = env

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"share": self.share}

    def register(self, app: RefusingApp) -> None:
        @app.action(blocks.FOUND_SHARE)
        async def share_found(
            ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
        ) -> None:
            await ack()
            trigger_id = str(body.get("trigger_id") or "")
            who = who_of(context, body)
            await self.open(who, action_value(body), trigger_id=trigger_id, client=client)

        for action_id, find in (
            (DOCUMENT, self.document_options),
            (RECIPIENTS, self.recipient_options),
            (GROUPS, self.group_options),
            (SPACES, self.space_options),
        ):
            app.options(action_id)(suggestions(self.env, find))

        app.view(CALLBACK)(form_submission(self.check, self._share_told))

    async def share(self, call: Call) -> Message | None:
        await self.open(call.who, call.args, trigger_id=call.trigger_id, client=call.client)
        return None

    async def open(self, who: Who, ref: str, *, trigger_id: str, client: AsyncWebClient) -> None:
        """Open the share modal, with ``ref``'s document chosen when given; NotAllowed or
        NotFound instead when the person may not share or the document is unknown."""
        context = await staff_of(self.env, who)
        document = None
        if ref.strip():
            document = await filing.find_document(
                context.env, org_id=context.org_id, ref=ref.strip()
            )
        view = await open_form(client, trigger_id=trigger_id, view=loading_modal())
        listed = await groups.list_groups(context.env, org_id=context.org_id)
        found = await spaces.list_spaces(context.env, org_id=context.org_id)
        form = share_modal(document=document, groups=listed, spaces=found)
        try:
            await client.views_update(view_id=view["id"], hash=view["hash"], view=form)
        except SlackApiError as error:
            log.info("the share form was closed before it loaded: %s", error.response.get("error"))

    async def document_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        """Documents whose reference or title matches; the newest when nothing is typed."""
        if typed.strip() and not search.terms(typed):
            return []
        query = search.SearchQuery(words=typed.strip() or None, limit=MAX_OPTIONS)
        found = await search.find_documents(context.env, org_id=context.org_id, query=query)
        return [document_option(d) for d in found]

    async def recipient_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        found = await recipients.search_recipients(
            context.env, org_id=context.org_id, name=typed, limit=MAX_OPTIONS
        )
        now = context.env.clock.now()
        return [recipient_option(r, recipients.can_receive(r, now)) for r in found]

    async def group_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        """Only asked when an organisation has more groups than a select can hold."""
        wanted = typed.strip().lower()
        found = await groups.list_groups(context.env, org_id=context.org_id)
        return [group_option(g) for g in found if wanted in g.group.name.lower()][:MAX_OPTIONS]

    async def space_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        """Only asked when an organisation has more spaces than a select can hold."""
        wanted = typed.strip().lower()
        found = await spaces.list_spaces(context.env, org_id=context.org_id)
        return [space_option(s) for s in found if wanted in s.space.name.lower()][:MAX_OPTIONS]

    async def check(self, who: Who, values: Mapping[str, Any]) -> Plan | Errors:
        """The submission as a plan, or the errors to show on the modal's fields. A document
        that cannot be shared is refused on its field; anyone who may not share is refused on
        the form's first field (`refuse`)."""
        document_block = BLOCK_OF[DOCUMENT]
        context = await staff_of(self.env, who)
        form = _Form(values)
        ref = form.chosen(DOCUMENT)
        recipient_ids = form.ids(RECIPIENTS, "recipient")
        group_ids = form.ids(GROUPS, "group")
        space_ids = form.ids(SPACES, "space")
        message = form.message()
        expires_at = form.expiry(context.env.clock.now())
        if not ref:
            form.errors[document_block] = "Pick a document"
        if not (recipient_ids or group_ids or space_ids or form.errors):
            form.errors[BLOCK_OF[RECIPIENTS]] = "Pick at least one recipient, group or space"
        if form.errors:
            return form.errors
        try:
            document = await filing.find_document(context.env, org_id=context.org_id, ref=ref)
        except WorkflowError as error:
            return {document_block: sentence(str(error))}
        across_clients = form.ticked(ACROSS)
        problems = await targets.check_targets(
            context.env,
            org_id=context.org_id,
            document_id=id_of(document),
            recipient_ids=recipient_ids,
            group_ids=group_ids,
            space_ids=space_ids,
            across_clients=across_clients,
        )
        if problems:
            return _problem_errors(problems)
        terms = sharing.ShareTerms(
            expires_at=expires_at,
            message=message,
            staff_id=context.staff.id,
            across_clients=across_clients,
        )
        return Plan(context, document, recipient_ids, group_ids, space_ids, terms)

    async def _share_told(self, plan: Plan) -> Message:
        return shared_message(await self.carry_out(plan))

    async def carry_out(self, plan: Plan) -> Outcome:
        """Share as planned, recipients first, then groups, then spaces. Should something
        change between the check and a share, sharing stops there and the outcome says so."""
        context, terms = plan.context, plan.terms
        common: dict[str, Any] = {
            "org_id": context.org_id,
            "actor": context.actor,
            "document_id": id_of(plan.document),
            "terms": terms,
        }
        outcome = Outcome(plan.document, expires_at=terms.expires_at, message=terms.message)
        try:
            for recipient_id in plan.recipient_ids:
                one = await sharing.share_with_recipient(
                    context.env, recipient_id=recipient_id, **common
                )
                outcome.recipients += 1
                outcome.already += 0 if one.created else 1
            for group_id in plan.group_ids:
                many = await sharing.share_with_group(context.env, group_id=group_id, **common)
                outcome.groups += 1
                outcome.group_people += len(many.shares)
                outcome.skipped += many.skipped
            for space_id in plan.space_ids:
                spaced = await sharing.share_with_space(context.env, space_id=space_id, **common)
                outcome.spaces += 1
                outcome.skipped += spaced.skipped
        except WorkflowError as error:
            outcome.failure = str(error)
        return outcome


class _Form:
    """The submitted values of the share modal, read as Slack sends them; what cannot be
    read is collected in ``errors`` keyed by input block."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.errors: Errors = {}

    def _entry(self, action_id: str) -> dict[str, Any]:
        entry = self.values.get(BLOCK_OF[action_id], {}).get(action_id)
        return entry if isinstance(entry, dict) else {}

    def chosen(self, action_id: str) -> str:
        picked = self._entry(action_id).get("selected_option") or {}
        return str(picked.get("value") or "")

    def ids(self, action_id: str, what: str) -> list[int]:
        picked = self._entry(action_id).get("selected_options") or []
        values = [str(option.get("value") or "") for option in picked]
        if not all(value.isdigit() for value in values):
            self.errors[BLOCK_OF[action_id]] = f"That choice is not a {what}; pick again"
            return []
        return list(dict.fromkeys(int(value) for value in values))

    def ticked(self, action_id: str) -> bool:
        return bool(self._entry(action_id).get("selected_options"))

    def text(self, action_id: str) -> str:
        return str(self._entry(action_id).get("value") or "").strip()

    def message(self) -> str | None:
        message = self.text(MESSAGE)
        if len(message) > MAX_MESSAGE:
            self.errors[BLOCK_OF[MESSAGE]] = f"The message is longer than {MAX_MESSAGE} characters"
        return message or None

    def expiry(self, now: datetime) -> datetime | None:
        """When access ends: after a number of days from now, or at the end of a date."""
        days_text = self.text(DAYS)
        picked = str(self._entry(DATE).get("selected_date") or "")
        if days_text and picked:
            self.errors[BLOCK_OF[DATE]] = "Give a number of days or a date, not both"
            return None
        if days_text:
            if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
                self.errors[BLOCK_OF[DAYS]] = f"Give a whole number of days from 1 to {MAX_DAYS}"
                return None
            return now + timedelta(days=int(days_text))
        if picked:
            try:
                day = date.fromisoformat(picked)
            except ValueError:
                self.errors[BLOCK_OF[DATE]] = "Pick a date from the calendar"
                return None
            if day < now.astimezone(UTC).date():
                self.errors[BLOCK_OF[DATE]] = "Pick today or a later date"
                return None
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
        return None


def _problem_errors(problems: targets.TargetProblems) -> Errors:
    errors: Errors = {}
    if problems.across_clients:
        errors[BLOCK_OF[ACROSS]] = f"Tick “{ACROSS_LABEL}” to share it anyway"
    for action_id, found in (
        (RECIPIENTS, problems.recipients),
        (GROUPS, problems.groups),
        (SPACES, problems.spaces),
    ):
        if found:
            errors[BLOCK_OF[action_id]] = joined(found)
    return errors
