"""What a staff notice says in Slack: notices folded by conversation, kind and document
into one message ("12 recipients opened D-3 Fee table 2027"), and each kind's words.

The delivery worker (`bot.slack.notify`) sends what is built here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bot.slack.blocks import Message, escape, when
from bot.slack.views import actions, button, context_block, section, sentence
from workflows.outbox import kinds
from workflows.outbox.kinds import (
    AccessPayload,
    DeadSummaryPayload,
    FailurePayload,
    Kind,
    LinkUnusedPayload,
    Payload,
    SignStatusPayload,
    UnopenedPayload,
    WebhookDisabledPayload,
)
from workflows.sharing.staff_notices import Destination, StaffNotice

RETRY_FROM_NOTICE = "notice_retry"
MAX_NAMES = 10
"""Names listed under a grouped notice; the rest are counted."""
P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Group:
    """Notices for one conversation about one kind of thing on one document."""

    destination: Destination
    kind: str
    notices: list[StaffNotice]


def group_notices(notices: Sequence[StaffNotice]) -> list[Group]:
    """Notices with a destination, folded by conversation, kind and document, in order."""
    groups: dict[tuple[str, str, int | None, object], Group] = {}
    for notice in notices:
        if notice.destination is None:
            continue
        document_id = notice.document.id if notice.document else None
        # These never fold together: each says something of its own (a request's news,
        # a reminder that already lists its people, a link, a day's summary).
        alone = notice.row.id if notice.kind in SINGLE else None
        key = (notice.destination.slack_id, notice.kind, document_id, alone)
        if key not in groups:
            groups[key] = Group(notice.destination, notice.kind, [])
        groups[key].notices.append(notice)
    return list(groups.values())


SINGLE = (
    Kind.SIGN_STATUS,
    Kind.DOCUMENT_UNOPENED,
    Kind.LINK_UNUSED,
    Kind.DEAD_SUMMARY,
    Kind.WEBHOOK_DISABLED,
)

VERBS: dict[str, str] = {
    Kind.DOCUMENT_OPENED: "opened",
    Kind.DOCUMENT_DOWNLOADED: "downloaded",
    Kind.DOCUMENT_RETURNED: "returned",
}


def notice_message(group: Group, *, max_names: int = MAX_NAMES) -> Message:
    """One message for a group: who did what to which document, or which delivery failed."""
    notices = group.notices
    if group.kind == Kind.SIGN_STATUS:
        return _request_message(notices[0])
    if group.kind in REMINDERS:
        text, blocks = REMINDERS[group.kind](notices, max_names)
        blocks.append(context_block(when(min(n.row.created_at for n in notices))))
        return {"text": text, "blocks": blocks}
    document = notices[0].document
    plain_doc = f"{document.ref} {document.title}" if document else "a document"
    shown_doc = f"*{document.ref}* {escape(document.title)}" if document else "a document"
    names = _unique_names(notices)
    if group.kind == Kind.DELIVERY_FAILED:
        text, blocks = _failure(notices, names, plain_doc, shown_doc, max_names)
    else:
        verb = VERBS[group.kind]
        actor = sentence(names[0]) if len(names) == 1 else f"{len(names)} recipients"
        text = escape(f"{actor} {verb} {plain_doc}")
        blocks = [section(f"{escape(actor)} {verb} {shown_doc}")]
        if len(names) > 1:
            blocks.append(context_block(escape(_listed(names, max_names))))
    blocks.append(context_block(when(min(n.row.created_at for n in notices))))
    return {"text": text, "blocks": blocks}


def _failure(
    notices: list[StaffNotice], names: list[str], plain_doc: str, shown_doc: str, max_names: int
) -> tuple[str, list[Message]]:
    whom = names[0] if len(names) == 1 else f"{len(names)} recipients"
    text = escape(f"Delivery of {plain_doc} to {whom} failed for good")
    blocks = [
        section(f":rotating_light: Delivery of {shown_doc} to {escape(whom)} failed for good")
    ]
    if len(names) > 1:
        blocks.append(context_block(escape(_listed(names, max_names))))
    if error := notices[0].error:
        blocks.append(context_block(f"Last error: {escape(str(error))}"))
    ids = _fitting_ids([_payload(n, FailurePayload).notification_id for n in notices])
    if ids:
        blocks.append(actions([button(RETRY_FROM_NOTICE, "Retry", ids)]))
    return text, blocks


REQUEST_NEWS = {
    "signed": ":writing_hand: {party} signed {request}",
    "approved": ":ballot_box_with_check: {party} approved {request}",
    "completed": ":white_check_mark: {request} is complete: every PDF is signed and sealed",
    "declined": ":x: {request} was declined; it has ended for everyone",
    "expired": ":hourglass: {request} expired before everyone decided",
    "cancelled": ":no_entry: {request} was cancelled",
}


def _request_message(notice: StaffNotice) -> Message:
    """A signature request moved on: who decided, or how it ended."""
    payload = _payload(notice, SignStatusPayload)
    status = payload.status
    request = notice.request
    plain = f"{request.ref} {request.title}" if request else "a signature request"
    shown = f"*{request.ref}* {escape(request.title)}" if request else "a signature request"
    pattern = REQUEST_NEWS.get(status, "{request} is now " + escape(status))
    party = notice.party or "a party"
    text = pattern.format(party=party, request=plain).split(" ", 1)[1]
    line = pattern.format(party=escape(party), request=shown)
    blocks = [section(line)]
    sealed = payload.sealed or ()
    if sealed:
        refs = ", ".join(sealed)
        blocks.append(context_block(f"Signed PDFs: {escape(refs)} (`/inkpost link` shares one)"))
    blocks.append(context_block(when(notice.row.created_at)))
    return {"text": escape(text), "blocks": blocks}


def _document_of(notice: StaffNotice) -> tuple[str, str]:
    """The notice's document as plain text and as mrkdwn."""
    document = notice.document
    if document is None:
        return "a document", "a document"
    return f"{document.ref} {document.title}", f"*{document.ref}* {escape(document.title)}"


def _payload(notice: StaffNotice, kind: type[P]) -> P:
    """The notice's payload, which its kind says is a ``kind``."""
    payload = notice.payload
    if not isinstance(payload, kind):
        raise TypeError(f"a {notice.kind} notice carries no {kind.__name__}")
    return payload


def _unopened(notices: list[StaffNotice], max_names: int) -> tuple[str, list[Message]]:
    notice = notices[0]
    plain, shown = _document_of(notice)
    until = when(_payload(notice, UnopenedPayload).available_until)
    names = _listed(list(notice.people), max_names) or "some recipients"
    line = f"stops being available on {until}; not opened yet by {names}"
    return escape(f"{plain} {line}"), [section(f":hourglass_flowing_sand: {shown} {escape(line)}")]


def _link_unused(notices: list[StaffNotice], max_names: int) -> tuple[str, list[Message]]:
    notice = notices[0]
    plain, shown = _document_of(notice)
    payload = _payload(notice, LinkUnusedPayload)
    ended = when(payload.expires_at)
    line = f"(share {payload.share_id}) expired on {ended} without being opened or downloaded"
    text = escape(f"Your link to {plain} {line}")
    return text, [section(f":link: Your link to {shown} {escape(line)}")]


def _access_ending(notices: list[StaffNotice], max_names: int) -> tuple[str, list[Message]]:
    names = [n.person or "a recipient" for n in notices]
    if len(notices) == 1:
        ends = when(_payload(notices[0], AccessPayload).access_expires_at)
        line = f"{names[0]}'s access to your documents ends on {ends}"
        return escape(line), [section(f":key: {escape(line)}")]
    line = f"{len(names)} recipients' access to your documents ends soon"
    return escape(line), [
        section(f":key: {escape(line)}"),
        context_block(escape(_listed(names, max_names))),
    ]


def _dead_summary(notices: list[StaffNotice], max_names: int) -> tuple[str, list[Message]]:
    payload = _payload(notices[0], DeadSummaryPayload)
    count = payload.count
    counted = ", ".join(f"{kind} {n}" for kind, n in sorted(payload.by_kind.items()))
    noun = "notification" if count == 1 else "notifications"
    line = f"{count} {noun} could not be delivered" + (f" ({counted})" if counted else "")
    return escape(line), [
        section(f":rotating_light: {escape(line)}. `/inkpost status` retries them."),
        context_block(escape(f"Summary for {payload.day.isoformat()}")),
    ]


def _webhook_disabled(notices: list[StaffNotice], max_names: int) -> tuple[str, list[Message]]:
    payload = _payload(notices[0], WebhookDisabledPayload)
    line = (
        f"Webhook endpoint {payload.endpoint_id} ({payload.url}) was turned off: {payload.reason}"
    )
    return escape(line), [
        section(f":electric_plug: {escape(line)}"),
        context_block(
            escape(
                f"Its deliveries wait for it. `inkpost webhooks enable {payload.endpoint_id}` "
                "turns it on again and sends them."
            )
        ),
    ]


Render = Callable[[list[StaffNotice], int], tuple[str, list[Message]]]
REMINDERS: dict[str, Render] = {
    Kind.DOCUMENT_UNOPENED: _unopened,
    Kind.LINK_UNUSED: _link_unused,
    Kind.RECIPIENT_ACCESS_ENDING: _access_ending,
    Kind.DEAD_SUMMARY: _dead_summary,
    Kind.WEBHOOK_DISABLED: _webhook_disabled,
}


def _unique_names(notices: Sequence[StaffNotice]) -> list[str]:
    """One name per person (or link) in the group, in order; a person met through two
    shares of the same document counts once."""
    seen: dict[object, str] = {}
    for notice in notices:
        recipient_id = kinds.recipient_of(notice.payload)
        key = recipient_id if recipient_id is not None else ("link", notice.row.id)
        fallback = "a recipient" if notice.kind == Kind.DELIVERY_FAILED else "someone with a link"
        seen.setdefault(key, notice.person or fallback)
    return list(seen.values())


def _listed(names: list[str], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _fitting_ids(values: list[int], limit: int = 2000) -> str:
    """Notification ids as a button value (Slack allows 2,000 characters)."""
    ids = [str(v) for v in values]
    while ids and len(",".join(ids)) > limit:
        ids.pop()
    return ",".join(ids)


# -- pacing ----------------------------------------------------------------------------
