"""Block Kit of signature requests: the request modal, the message with each party's link
and a Cancel button, and the overview of requests and their parties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.slack.blocks import Message, escape, when
from bot.slack.features.sharing.views import document_option
from bot.slack.views import (
    View,
    actions,
    button,
    context_block,
    input_block,
    joined,
    modal_view,
    option,
    placeholder,
    plain,
    section,
)
from storage.models import Document, Party, PartyDecision, SignatureRequest
from workflows.people.recipients import LANGUAGES
from workflows.signing.creation import CreatedRequest
from workflows.signing.party_reminders import Reminded
from workflows.signing.requests import MAX_PARTIES, PENDING, RequestState

CALLBACK = "sign_request"
DOCUMENTS = "sign_documents"
SIGNERS = "sign_signers"
APPROVERS = "sign_approvers"
VIEWERS = "sign_viewers"
PEOPLE = "sign_people"
ORDER = "sign_order"
EXPIRES = "sign_expires"
MESSAGE = "sign_message"
LANGUAGE = "sign_language"
CANCEL = "sign_cancel"
REMIND = "sign_remind"
ACROSS = "sign_across_clients"
ACROSS_LABEL = "Send to people of another client than the documents'"
BLOCK_OF = {
    DOCUMENTS: "documents",
    SIGNERS: "signers",
    APPROVERS: "approvers",
    VIEWERS: "viewers",
    PEOPLE: "people",
    ORDER: "order",
    EXPIRES: "expires",
    MESSAGE: "message",
    LANGUAGE: "language",
    ACROSS: "across",
}
"""The input block holding each element: errors are keyed by block, values by both."""
ROLE_FIELDS = {"signer": SIGNERS, "approver": APPROVERS, "viewer": VIEWERS}
"""The recipient picker of each role, in the order a sequential request goes through."""
MAX_MESSAGE = 2000
MAX_PEOPLE_TEXT = 3000
LANGUAGE_NAMES = {"en": "English", "pl": "Polski", "ru": "Русский", "sv": "Svenska"}
TITLE = "Send for signature"
PEOPLE_HINT = (
    "One person per line: “Name <email>”, “Name, +46 70 123 45 67” or “Name, @telegram”. "
    "They sign unless the line starts with approver: or viewer: "
    "(e.g. “approver: Bo Berg <bo@firm.test>”)."
)
ORDER_HINT = (
    "In sequential order the parties go one at a time, top to bottom as this form lists "
    "them: the signers picked above, then the approvers, then the people typed above, line "
    "by line. Viewers get the documents at once and decide nothing."
)
ROLE_LABELS = {"signer": "Signer", "approver": "Approver", "viewer": "Viewer"}
DECISION_MARKS = {"signed": ":white_check_mark:", "approved": ":white_check_mark:"}


def _input(
    action_id: str, label: str, element: dict[str, Any], *, optional: bool, hint: str | None = None
) -> dict[str, Any]:
    element = {"action_id": action_id, **element}
    return input_block(BLOCK_OF[action_id], label, element, optional=optional, hint=hint)


def _people_picker(prompt: str) -> dict[str, Any]:
    return {
        "type": "multi_external_select",
        "placeholder": placeholder(prompt),
        "min_query_length": 0,
        "max_selected_items": MAX_PARTIES,
    }


def language_option(code: str) -> dict[str, Any]:
    return option(f"{LANGUAGE_NAMES.get(code, code)} ({code})", code)


ORDERS = {
    "parallel": option("Parallel: everyone at once", "parallel"),
    "sequential": option("Sequential: one party after another", "sequential"),
}


def sign_modal(*, documents: Sequence[Document], language: str) -> View:
    """The request form: PDFs, parties (recipients by role, other people as text), order,
    expiry, message and language."""
    picker: dict[str, Any] = {
        "type": "multi_external_select",
        "placeholder": placeholder("Type a reference or words of the title"),
        "min_query_length": 0,
    }
    if documents:
        picker["initial_options"] = [document_option(d) for d in documents]
    blocks = [
        _input(DOCUMENTS, "Documents (PDF)", picker, optional=False),
        _input(SIGNERS, "Signers", _people_picker("Recipients who sign"), optional=True),
        _input(APPROVERS, "Approvers", _people_picker("Recipients who approve"), optional=True),
        _input(
            VIEWERS,
            "Viewers",
            _people_picker("Recipients who only receive"),
            optional=True,
            hint="Pick at least one signer or approver here or below.",
        ),
        _input(
            PEOPLE,
            "People outside Inkpost",
            {
                "type": "plain_text_input",
                "multiline": True,
                "max_length": MAX_PEOPLE_TEXT,
                "placeholder": placeholder("Anna Berg <anna@firm.test>"),
            },
            optional=True,
            hint=PEOPLE_HINT,
        ),
        _input(
            ORDER,
            "Order",
            {
                "type": "radio_buttons",
                "options": list(ORDERS.values()),
                "initial_option": ORDERS["parallel"],
            },
            optional=False,
            hint=ORDER_HINT,
        ),
        _input(
            EXPIRES,
            "Expires at the end of",
            {"type": "datepicker", "placeholder": placeholder("Pick a date")},
            optional=True,
            hint="Leave empty for a request without an end.",
        ),
        _input(
            MESSAGE,
            "Message",
            {"type": "plain_text_input", "multiline": True, "max_length": MAX_MESSAGE},
            optional=True,
            hint="Shown to the parties with the documents.",
        ),
        _input(
            LANGUAGE,
            "Language",
            {
                "type": "static_select",
                "options": [language_option(code) for code in LANGUAGES],
                "initial_option": language_option(language if language in LANGUAGES else "en"),
            },
            optional=False,
            hint="The request's language; people outside Inkpost are written to in it, "
            "recipients in their own.",
        ),
        _input(
            ACROSS,
            "Other clients",
            {"type": "checkboxes", "options": [option(ACROSS_LABEL, "yes")]},
            optional=True,
            hint="Only on purpose: documents go to their own client's people unless this is "
            "ticked, and the history records that they went elsewhere.",
        ),
    ]
    return modal_view(CALLBACK, title=TITLE, submit="Send", blocks=blocks)


def _contact(party: Party) -> str:
    shown = [party.email, party.phone]
    if party.telegram_username:
        shown.append(f"@{party.telegram_username}")
    return ", ".join(c for c in shown if c) or "link only"


def _party_heading(party: Party) -> str:
    return f"*{party.position}. {ROLE_LABELS.get(party.role, party.role)}* {escape(party.name)}"


def _cancel_button(request: SignatureRequest) -> Message:
    confirm = {
        "title": plain(f"Cancel {request.ref}?"),
        "text": plain("The parties are told, and their links stop working."),
        "confirm": plain("Cancel it"),
        "deny": plain("Keep it"),
    }
    return actions(
        [
            button(REMIND, "Remind", request.ref),
            button(CANCEL, "Cancel request", request.ref, style="danger", confirm=confirm),
        ]
    )


def reminded_message(reminded: Sequence[Reminded], *, now: datetime) -> Message:
    """Who was reminded, and when the reminder goes out if quiet hours hold it back."""
    names = joined([r.party.name for r in reminded])
    later = [r for r in reminded if r.send_at > now]
    text = f"Reminded {names}"
    if later:
        text += f"; it goes out at {when(min(r.send_at for r in later))} (quiet hours)"
    return {"text": text, "blocks": [section(f":bell: {escape(text)}")]}


def _terms(request: SignatureRequest) -> str:
    ends = f"expires {when(request.expires_at)}" if request.expires_at else "no expiry"
    return f"{request.signing_order} · {ends} · {request.language}"


def created_message(created: CreatedRequest, *, public_url: str) -> Message:
    """'Sent S-4 for signature', each party's link to pass on, and Cancel."""
    request = created.request
    base = public_url.rstrip("/")
    documents = ", ".join(f"{d.ref} {d.title}" for d in created.documents)
    heading = (
        f":memo: Sent *{request.ref}* {escape(request.title)} for signature "
        f"({len(created.parties)} {'party' if len(created.parties) == 1 else 'parties'})"
    )
    blocks: list[Message] = [
        section(heading),
        context_block(f"{escape(documents)} · {_terms(request)}"),
    ]
    lines = [f"Sent {request.ref} {request.title} for signature:"]
    for link in created.parties:
        party, url = link.party, f"{base}/s/{link.token}"
        state = "invited" if party.invited_at else "invited when their turn comes"
        blocks.append(
            section(f"{_party_heading(party)} · {escape(_contact(party))} · {state}\n<{url}>")
        )
        lines.append(f"{party.position}. {party.role} {party.name}: {url}")
    if request.message:
        blocks.append(context_block(f"Message: “{escape(request.message[:300])}”"))
    for why in created.unconfirmable:
        blocks.append(section(f":warning: {escape(why)}."))
        lines.append(f"Warning: {why}.")
    blocks.append(
        context_block("Each link opens that party's page; pass it on only to them if they need it.")
    )
    blocks.append(_cancel_button(request))
    return {"text": "\n".join(lines), "blocks": blocks}


def cancelled_message(request: SignatureRequest, *, by: str) -> Message:
    text = f"{request.ref} {request.title} was cancelled by {by}; its parties are told."
    return {"text": text, "blocks": [section(f":no_entry: {escape(text)}")]}


def _decision_line(party: Party, decision: PartyDecision | None, state: RequestState) -> str:
    if party.role == "viewer":
        return "receives the documents" if party.invited_at else "not sent yet"
    if decision is None:
        if state.request.status != PENDING:
            return "did not decide"
        return ":hourglass_flowing_sand: to decide" if party.invited_at else "waits for their turn"
    mark = DECISION_MARKS.get(decision.decision, ":x:")
    parts = [f"{mark} {decision.decision} {when(decision.decided_at)}", decision.auth_level]
    if decision.decided_by_name != party.name or (
        decision.decided_by_recipient_id not in (None, party.recipient_id)
    ):
        parts.append(f"by {escape(decision.decided_by_name)} on their behalf")
    if decision.reason:
        parts.append(f"“{escape(decision.reason[:300])}”")
    return " · ".join(parts)


def request_message(state: RequestState) -> Message:
    """A request with its documents, each party's decision so far, and Cancel while
    it is pending."""
    request = state.request
    documents = ", ".join(f"{d.ref} {d.title}" for d in state.documents)
    blocks: list[Message] = [
        section(f"*{request.ref}* {escape(request.title)} · *{request.status}*"),
        context_block(f"{escape(documents)} · {_terms(request)}"),
    ]
    for party in state.parties:
        line = _decision_line(party, state.decision_of(party), state)
        blocks.append(section(f"{_party_heading(party)} · {line}"))
    if request.status == PENDING:
        blocks.append(_cancel_button(request))
    decided = len(state.decisions)
    deciding = sum(1 for p in state.parties if p.role != "viewer")
    text = f"{request.ref} {request.title}: {request.status}, {decided} of {deciding} decided"
    return {"text": text, "blocks": blocks}


def requests_message(requests: Sequence[SignatureRequest], *, status: str) -> Message:
    """One line per request, newest first."""
    if not requests:
        text = f"No {status} signature requests."
        return {"text": text, "blocks": [section(text)]}
    blocks = [section(f"*{len(requests)} {status} signature requests*")]
    for request in requests:
        blocks.append(
            section(
                f"*{request.ref}* {escape(request.title)} · {request.status} · "
                f"{_terms(request)} · sent {request.created_at:%Y-%m-%d}"
            )
        )
    blocks.append(context_block("`/inkpost requests S-4` shows one with its parties."))
    return {"text": f"{len(requests)} {status} signature requests", "blocks": blocks}
