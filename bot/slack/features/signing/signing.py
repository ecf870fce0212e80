"""Signature requests from Slack: `/inkpost sign [DOC]` and its modal, `/inkpost requests`,
and the Cancel button under a request.

The modal's pickers search as the person types (documents: PDFs only). A submission is
checked whole before it is acknowledged, so each refusal shows on its field and nothing is
written; the request is created after the acknowledgement and its parties' links arrive as
a direct message, with a button that cancels it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Call, Subcommand, Usage, Who
from bot.slack.features.sharing.views import document_option, recipient_option
from bot.slack.features.signing.views import (
    ACROSS,
    ACROSS_LABEL,
    BLOCK_OF,
    CALLBACK,
    CANCEL,
    DOCUMENTS,
    EXPIRES,
    LANGUAGE,
    MAX_MESSAGE,
    MESSAGE,
    ORDER,
    PEOPLE,
    REMIND,
    ROLE_FIELDS,
    SIGNERS,
    cancelled_message,
    created_message,
    reminded_message,
    request_message,
    requests_message,
    sign_modal,
)
from bot.slack.listeners import (
    RefusingApp,
    action_value,
    form_submission,
    open_form,
    staff_of,
    suggestions,
    tell,
    who_of,
)
from bot.slack.views import MAX_OPTIONS, Errors, joined, sentence
from storage.models import Document
from storage.rows import id_of
from workflows.context import Env
from workflows.documents import search
from workflows.errors import Conflict, InvalidInput, WorkflowError
from workflows.media import PDF
from workflows.people import recipients
from workflows.people.recipients import LANGUAGES
from workflows.people.staff import StaffContext
from workflows.signing import creation, forms, party_reminders, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.requests import DECIDING, MAX_PARTIES, ORDERS

LISTED = 40
"""Requests listed in one message; Slack allows 50 blocks."""
STATUSES = (requests.PENDING, requests.SEALING, *requests.ENDED)


@dataclass(frozen=True)
class Plan:
    """A checked submission: the request to create, by whom."""

    context: StaffContext
    new: NewRequest


class Signing:
    """`/inkpost sign [DOC]`, the request modal and its pickers, `/inkpost requests`, and
    the Cancel button."""

    usage = (
        Usage(
            "sign [DOC]",
            "send PDFs for signature or approval to recipients and other people",
            "/inkpost sign D-12",
        ),
        Usage(
            "requests [S-N | STATUS]",
            "pending signature requests, one with its parties, or those of a status",
            "/inkpost requests S-4",
        ),
    )

    def __init__(self, env: Env, *, public_url: str) -> None:
        self.env = env
        self.public_url = public_url

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {
            "sign": self.sign,
            "requests": lambda call: self.requests(call.who, call.args),
        }

    def register(self, app: RefusingApp) -> None:
        app.options(DOCUMENTS)(suggestions(self.env, self.document_options))
        for action_id in ROLE_FIELDS.values():
            app.options(action_id)(suggestions(self.env, self.recipient_options))

        app.view(CALLBACK)(form_submission(self.check, self.create))

        @app.action(REMIND)
        async def remind(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            await tell(respond, await self.remind(who_of(context, body), action_value(body)))

        @app.action(CANCEL)
        async def cancel(
            ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any], context: Any
        ) -> None:
            await ack()
            message = await self.cancel(who_of(context, body), action_value(body))
            await respond(replace_original=True, **message)

    async def document_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        """PDFs whose reference or title matches; the newest when nothing is typed."""
        if typed.strip() and not search.terms(typed):
            return []
        query = search.SearchQuery(words=typed.strip() or None, media_type=PDF, limit=MAX_OPTIONS)
        found = await search.find_documents(context.env, org_id=context.org_id, query=query)
        return [document_option(d) for d in found]

    async def recipient_options(self, context: StaffContext, typed: str) -> list[dict[str, Any]]:
        found = await recipients.search_recipients(
            context.env, org_id=context.org_id, name=typed, limit=MAX_OPTIONS
        )
        now = context.env.clock.now()
        return [recipient_option(r, recipients.can_receive(r, now)) for r in found]

    # -- the modal

    async def sign(self, call: Call) -> Message | None:
        """Open the request modal, with ``DOC`` chosen when given; a refusal instead when
        the person may not send requests or the document is unknown or no PDF."""
        context = await staff_of(self.env, call.who)
        chosen = []
        if call.args.strip():
            found = await forms.signable_documents(
                context.env, org_id=context.org_id, refs=call.args.split()
            )
            if found.problems:
                raise InvalidInput(found.problems[0])
            chosen = found.documents
        form = sign_modal(documents=chosen, language=context.organization.default_language)
        await open_form(call.client, trigger_id=call.trigger_id, view=form)
        return None

    async def check(self, who: Who, values: Mapping[str, Any]) -> Plan | Errors:
        """The submission as a plan, or the errors to show on the modal's fields; anyone who
        may not send requests is refused on the form's first field (`refuse`)."""
        context = await staff_of(self.env, who)
        form = _Form(values)
        refs = form.values_of(DOCUMENTS)
        picked = {role: form.recipient_ids(action_id) for role, action_id in ROLE_FIELDS.items()}
        people = forms.parse_people(form.text(PEOPLE))
        if people.problems:
            form.fail(PEOPLE, joined(people.problems))
        order = form.chosen(ORDER) or "parallel"
        if order not in ORDERS:
            form.fail(ORDER, "Pick parallel or sequential")
        language = form.chosen(LANGUAGE)
        if language not in LANGUAGES:
            form.fail(LANGUAGE, "Pick a language from the list")
        message = form.text(MESSAGE)
        if len(message) > MAX_MESSAGE:
            form.fail(MESSAGE, f"The message is longer than {MAX_MESSAGE} characters")
        expires_at = form.expiry(context.env.clock.now())
        found = forms.Signable()
        if not refs:
            form.fail(DOCUMENTS, "Pick at least one PDF")
        else:
            found = await forms.signable_documents(context.env, org_id=context.org_id, refs=refs)
            if found.problems:
                form.fail(DOCUMENTS, joined(found.problems))
        await self._check_recipients(form, context, picked)
        across_clients = form.ticked(ACROSS)
        if found.documents and not across_clients:
            await self._check_clients(form, context, found.documents, picked)
        parties = [
            NewParty(role=role, recipient_id=rid) for role, ids in picked.items() for rid in ids
        ] + [replace(p, language=language) for p in people.parties]
        self._check_parties(form, parties, people_ok=not people.problems)
        if form.errors:
            return form.errors
        new = NewRequest(
            document_ids=[id_of(d) for d in found.documents],
            parties=parties,
            order=order,
            expires_at=expires_at,
            message=message or None,
            language=language,
            across_clients=across_clients,
        )
        return Plan(context, new)

    async def _check_clients(
        self,
        form: _Form,
        context: StaffContext,
        documents: Sequence[Document],
        picked: dict[str, list[int]],
    ) -> None:
        """Refuse, on their fields, recipients of another client than the documents', unless
        the form says to send across clients."""
        elsewhere = await forms.people_elsewhere(
            context.env,
            org_id=context.org_id,
            documents=documents,
            recipient_ids=[rid for ids in picked.values() for rid in ids],
        )
        for role, ids in picked.items():
            found = [sentence(elsewhere[rid]) for rid in ids if rid in elsewhere]
            if found:
                form.fail(ROLE_FIELDS[role], joined(found))
        if elsewhere:
            form.fail(ACROSS, f"Tick “{ACROSS_LABEL}” to send them anyway")

    async def _check_recipients(
        self, form: _Form, context: StaffContext, picked: dict[str, list[int]]
    ) -> None:
        everyone = [rid for ids in picked.values() for rid in ids]
        problems = await forms.recipient_problems(
            context.env, org_id=context.org_id, recipient_ids=everyone
        )
        seen: dict[int, str] = {}
        for role, ids in picked.items():
            action_id = ROLE_FIELDS[role]
            found = [sentence(problems[rid]) for rid in ids if rid in problems]
            twice = [
                f"{form.label_of(action_id, rid)} is already picked as {seen[rid]}"
                for rid in ids
                if rid in seen
            ]
            seen.update({rid: role for rid in ids if rid not in seen})
            if found or twice:
                form.fail(action_id, joined(found + twice))

    def _check_parties(self, form: _Form, parties: list[NewParty], *, people_ok: bool) -> None:
        if len(parties) > MAX_PARTIES:
            form.fail(PEOPLE, f"A request has at most {MAX_PARTIES} parties")
        elif people_ok and not any(p.role in DECIDING for p in parties):
            form.fail(SIGNERS, "Pick at least one signer or approver; viewers decide nothing")

    async def create(self, plan: Plan) -> Message:
        """Create the planned request; the message with its links, or why it could not be
        created (something changed after the form was checked): the form is closed by then,
        so the refusal says what it is about."""
        context = plan.context
        try:
            created = await creation.create_request(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                staff_id=context.staff.id,
                new=plan.new,
            )
        except WorkflowError as error:
            return blocks.refusal(f"the request was not sent: {error}")
        return created_message(created, public_url=self.public_url)

    # -- after it is sent

    async def cancel(self, who: Who, ref: str) -> Message:
        """Cancel ``ref``: the message to replace the request's with. A second press finds
        it already cancelled, and says so rather than why a cancelled request cannot be."""
        context = await staff_of(self.env, who)
        try:
            request = await requests.cancel_request(
                context.env, org_id=context.org_id, actor=context.actor, ref=ref
            )
        except Conflict as error:
            state = await requests.request_state(context.env, org_id=context.org_id, ref=ref)
            if state.request.status != requests.CANCELLED:
                raise
            raise Conflict(f"{state.request.ref} is already cancelled") from error
        return cancelled_message(request, by=context.staff.name)

    async def remind(self, who: Who, ref: str) -> Message:
        """Remind now every party still to decide whose turn it is (at most once an hour)."""
        context = await staff_of(self.env, who)
        reminded = await party_reminders.remind_now(
            context.env, org_id=context.org_id, actor=context.actor, ref=ref
        )
        return reminded_message(reminded, now=context.env.clock.now())

    async def requests(self, who: Who, args: str) -> Message:
        """Pending requests; one request (``S-4``) with its parties; or those of a status."""
        context = await staff_of(self.env, who)
        wanted = args.strip().lower()
        if wanted in ("", *STATUSES):
            status = wanted or requests.PENDING
            found = await requests.list_requests(
                context.env, org_id=context.org_id, status=status, limit=LISTED
            )
            return requests_message(found, status=status)
        if " " in wanted:
            raise InvalidInput("name one request, like S-4, or a status, like completed")
        state = await requests.request_state(context.env, org_id=context.org_id, ref=wanted)
        return request_message(state)


@dataclass
class _Form:
    """The submitted values of the request modal, read as Slack sends them; what cannot be
    read is collected in ``errors`` keyed by input block."""

    values: Mapping[str, Any]
    errors: Errors = field(default_factory=dict)

    def fail(self, action_id: str, problem: str) -> None:
        self.errors.setdefault(BLOCK_OF[action_id], problem)

    def _entry(self, action_id: str) -> dict[str, Any]:
        entry = self.values.get(BLOCK_OF[action_id], {}).get(action_id)
        return entry if isinstance(entry, dict) else {}

    def ticked(self, action_id: str) -> bool:
        return bool(self._options(action_id))

    def _options(self, action_id: str) -> list[dict[str, Any]]:
        return list(self._entry(action_id).get("selected_options") or [])

    def values_of(self, action_id: str) -> list[str]:
        return [str(o.get("value") or "") for o in self._options(action_id)]

    def label_of(self, action_id: str, recipient_id: int) -> str:
        for picked in self._options(action_id):
            if picked.get("value") == str(recipient_id):
                return str((picked.get("text") or {}).get("text") or recipient_id)
        return f"recipient {recipient_id}"

    def recipient_ids(self, action_id: str) -> list[int]:
        values = self.values_of(action_id)
        if not all(value.isdigit() for value in values):
            self.fail(action_id, "That choice is not a recipient; pick again")
            return []
        return list(dict.fromkeys(int(value) for value in values))

    def chosen(self, action_id: str) -> str:
        picked = self._entry(action_id).get("selected_option") or {}
        return str(picked.get("value") or "")

    def text(self, action_id: str) -> str:
        return str(self._entry(action_id).get("value") or "").strip()

    def expiry(self, now: datetime) -> datetime | None:
        """The end of the picked day (UTC), which must not be past."""
        picked = str(self._entry(EXPIRES).get("selected_date") or "")
        if not picked:
            return None
        try:
            day = date.fromisoformat(picked)
        except ValueError:
            self.fail(EXPIRES, "Pick a date from the calendar")
            return None
        if day < now.astimezone(UTC).date():
            self.fail(EXPIRES, "Pick today or a later date")
            return None
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
