"""What a signing notice to a party says, whether it still matters, and which way it goes.

The outbox holds these kinds for parties: the invitation (when it is their turn), the
one-time code they asked for, a reminder, the end of the request (declined, cancelled,
expired), its completion, and each signed PDF for a party's Telegram chat. They travel
on channel ``recipient`` (a recipient: Telegram, else mail) or ``party`` (a person
outside the system: mail only). Each is checked again when it is sent: an invitation for
a request that ended meanwhile, or a code that was replaced or has expired, is cancelled
rather than sent. A one-time code never outlives its sending: the worker keeps the row's
payload without it (`kept_payload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    AuditEvent,
    Document,
    Notification,
    Organization,
    Party,
    PartyDecision,
    Recipient,
    RequestDocument,
    SignatureRequest,
    StaffUser,
)
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import Gone, NotAllowed, NotFound
from workflows.outbox.kinds import (
    Channel,
    CodePayload,
    Hold,
    Kind,
    PartyPayload,
    Preference,
    Route,
    SignedFilePayload,
    Via,
)
from workflows.people import preferences
from workflows.people.preferences import wants
from workflows.people.recipients import can_receive
from workflows.signing import deciding, requests

KINDS = frozenset(
    {
        Kind.SIGN_INVITE,
        Kind.SIGN_CODE,
        Kind.SIGN_ENDED,
        Kind.SIGN_COMPLETED,
        Kind.SIGN_REMINDER,
        Kind.SIGNED_FILE,
    }
)
"""The kinds of signing notice to parties. A signed PDF (SIGNED_FILE) goes only into a
Telegram chat; by mail, the completion notice links to the party's page, where the signed
PDFs are."""
TELEGRAM_FILE_LIMIT = 50 * 1024 * 1024
"""The largest file a bot may send."""
CHANNELS = (Channel.RECIPIENT, Channel.PARTY)


@dataclass(frozen=True)
class SignNotice:
    """One notice to one party (or the colleague deciding for them), ready to be worded."""

    kind: Kind
    organization: Organization
    request: SignatureRequest
    party: Party
    documents: list[Document]
    recipient: Recipient | None
    """Whom it goes to on channel ``recipient``; None for a person outside the system."""
    sent_by: str | None = None
    code: str | None = None
    declined_by: str | None = None
    reason: str | None = None
    decided: bool = False
    """Whether the party has decided (a reminder is then no longer needed)."""
    unsubscribe: str | None = None
    """The one-click link that turns this kind off by mail, on a mail to a recipient."""

    @property
    def language(self) -> str:
        return self.recipient.language if self.recipient is not None else self.party.language

    @property
    def name(self) -> str:
        return self.recipient.name if self.recipient is not None else self.party.name

    @property
    def email(self) -> str | None:
        return self.recipient.email if self.recipient is not None else self.party.email

    @property
    def chat_id(self) -> int | None:
        if self.recipient is None or not self.recipient.telegram_active:
            return None
        return self.recipient.telegram_chat_id

    @property
    def status(self) -> str:
        return self.request.status

    @property
    def needs_link(self) -> bool:
        """Invitations and completions carry a fresh link to the party's page."""
        return self.kind in (Kind.SIGN_INVITE, Kind.SIGN_COMPLETED, Kind.SIGN_REMINDER)


SignRoute = Route[SignNotice]


def kept_payload(notification: Notification) -> CodePayload | None:
    """The payload a row is to keep once settled, when it must lose a secret (a one-time
    code); None when its own may stay."""
    if notification.kind != Kind.SIGN_CODE:
        return None
    payload = CodePayload.parse(notification)
    return payload.scrubbed() if payload.code is not None else None


async def route_sign_notice(env: Env, notification: Notification) -> SignRoute:
    """Decide whether and how a signing notice reaches its party."""
    now = env.clock.now()
    async with env.reads() as session:
        loaded = await _load(session, notification)
    if isinstance(loaded, str):
        return SignRoute(Hold.CANCEL, reason=loaded)
    notice, via = loaded
    stale = _stale(notice, notification, now)
    if stale:
        return SignRoute(Hold.CANCEL, notice, reason=stale)
    if notice.recipient is None:
        if notice.party.email:
            return SignRoute(Via.EMAIL, notice)
        return SignRoute(Hold.CANCEL, notice, reason="the party has no email address")
    refusal = can_receive(notice.recipient, now)
    if refusal:
        return SignRoute(Hold.CANCEL, notice, reason=refusal)
    if notice.kind == Kind.SIGNED_FILE:
        return _file_way(notice)
    return _recipient_way(notice, via)


def _file_way(notice: SignNotice) -> SignRoute:
    """A signed PDF goes only into a Telegram chat that wants signing news; anywhere else
    the completion notice's link to the party's page serves."""
    assert notice.recipient is not None
    [document] = notice.documents
    if notice.chat_id is None or not wants(notice.recipient, Preference.SIGNATURE):
        return SignRoute(Hold.CANCEL, notice, reason="no Telegram chat: the page offers the PDF")
    if document.size > TELEGRAM_FILE_LIMIT:
        return SignRoute(Hold.CANCEL, notice, reason="too large for Telegram: the page offers it")
    return SignRoute(Via.TELEGRAM, notice)


def _recipient_way(notice: SignNotice, via: Via | None) -> SignRoute:
    """Telegram when linked and wanted, else mail when wanted (`preferences.way_for`); a
    code goes ``via`` where the page said."""
    recipient = notice.recipient
    assert recipient is not None
    if notice.kind == Kind.SIGN_CODE and via == Via.EMAIL and recipient.email:
        return SignRoute(Via.EMAIL, notice)
    choice = preferences.way_for(recipient, *notice_preferences(notice.kind))
    return SignRoute(choice.way, notice, reason=choice.reason)


def notice_preferences(kind: Kind) -> tuple[Preference, ...]:
    """The choices that let a signing notice of ``kind`` through: signing news, and for a
    reminder reminders too. A one-time code is asked for, never turned off."""
    if kind == Kind.SIGN_CODE:
        return ()
    if kind == Kind.SIGN_REMINDER:
        return (Preference.SIGNATURE, Preference.REMINDER)
    return (Preference.SIGNATURE,)


async def _load(
    session: AsyncSession, notification: Notification
) -> tuple[SignNotice, Via | None] | str:
    """The notice behind a row (with the way a code is to go), or why there is none any
    more."""
    payload = _payload(notification)
    party = await session.get(Party, payload.party_id)
    if party is None or party.org_id != notification.org_id:
        return "the party no longer exists"
    request = await session.get(SignatureRequest, party.request_id)
    organization = await session.get(Organization, party.org_id)
    assert request is not None and organization is not None
    recipient = None
    if notification.channel == Channel.RECIPIENT:
        recipient = await session.get(Recipient, int(notification.target))
        if recipient is None or recipient.org_id != notification.org_id:
            return "the recipient no longer exists"
    elif notification.target != str(party.id):
        return "the notification names another party"
    staff = (
        await session.get(StaffUser, request.created_by_staff_id)
        if request.created_by_staff_id
        else None
    )
    declined_by, reason = await _why_ended(session, request)
    documents = await _documents(session, request)
    if isinstance(payload, SignedFilePayload):
        sealed = await session.get(Document, payload.document_id)
        if sealed is None or sealed.org_id != notification.org_id:
            return "the signed document no longer exists"
        documents = [sealed]
    notice = SignNotice(
        kind=payload.kind,
        organization=organization,
        request=request,
        party=party,
        documents=documents,
        recipient=recipient,
        sent_by=staff.name if staff else None,
        code=payload.code if isinstance(payload, CodePayload) else None,
        declined_by=declined_by,
        reason=reason,
        decided=await session.get(PartyDecision, party.id) is not None,
    )
    return notice, payload.via if isinstance(payload, CodePayload) else None


def _payload(notification: Notification) -> PartyPayload | CodePayload | SignedFilePayload:
    if notification.kind == Kind.SIGN_CODE:
        return CodePayload.parse(notification)
    if notification.kind == Kind.SIGNED_FILE:
        return SignedFilePayload.parse(notification)
    return PartyPayload.parse(notification)


def _stale(notice: SignNotice, notification: Notification, now: datetime) -> str | None:
    """Why this notice no longer matters, or None while it does."""
    request, party = notice.request, notice.party
    if notice.kind == Kind.SIGN_INVITE:
        if request.status != requests.PENDING:
            return f"the request is {request.status}; the invitation is no longer needed"
        if request.expires_at is not None and request.expires_at <= now:
            return "the request expired before the invitation was delivered"
        return None
    if notice.kind == Kind.SIGN_CODE:
        return _stale_code(notice, notification, now)
    if notice.kind == Kind.SIGN_REMINDER:
        return _stale_reminder(notice, now)
    if (
        notice.kind in (Kind.SIGN_COMPLETED, Kind.SIGNED_FILE)
        and request.status != requests.COMPLETED
    ):
        return f"the request is {request.status}, not completed"
    if notice.kind == Kind.SIGN_ENDED and request.status not in requests.ENDED:
        return f"the request is {request.status}; it has not ended"
    if party.invited_at is None:
        return "the party was never invited"
    return None


def _stale_reminder(notice: SignNotice, now: datetime) -> str | None:
    request = notice.request
    if request.status != requests.PENDING:
        return f"the request is {request.status}; the reminder is no longer needed"
    if request.expires_at is not None and request.expires_at <= now:
        return "the request expired before the reminder was delivered"
    if notice.decided:
        return f"{notice.party.name} has decided meanwhile"
    if notice.party.invited_at is None:
        return "the party was never invited"
    return None


def _stale_code(notice: SignNotice, notification: Notification, now: datetime) -> str | None:
    party = notice.party
    if notice.code is None:
        return "the code is no longer kept"
    if notice.request.status != requests.PENDING:
        return f"the request is {notice.request.status}"
    if party.code_sent_at is not None and party.code_sent_at > notification.created_at:
        return "a newer code was sent"
    if party.code_hash is None:
        return "the code was used meanwhile"
    if party.code_expires_at is None or party.code_expires_at <= now:
        return "the code expired before it was delivered"
    return None


async def _documents(session: AsyncSession, request: SignatureRequest) -> list[Document]:
    rows = await session.exec(
        select(Document)
        .join(RequestDocument, col(RequestDocument.document_id) == Document.id)
        .where(RequestDocument.request_id == request.id)
        .order_by(col(RequestDocument.position))
    )
    return list(rows.all())


async def _why_ended(
    session: AsyncSession, request: SignatureRequest
) -> tuple[str | None, str | None]:
    """Who declined and why, or why staff cancelled; (None, None) for anything else."""
    if request.status == requests.DECLINED:
        decision = (
            await session.exec(
                select(PartyDecision).where(
                    PartyDecision.request_id == request.id, PartyDecision.decision == "declined"
                )
            )
        ).first()
        if decision is not None:
            return decision.decided_by_name, decision.reason
    if request.status == requests.CANCELLED:
        return None, await _cancel_reason(session, request)
    return None, None


async def _cancel_reason(session: AsyncSession, request: SignatureRequest) -> str | None:
    """The reason staff gave when cancelling, as the audit trail keeps it."""
    first = (
        await session.exec(
            select(RequestDocument.document_id)
            .where(RequestDocument.request_id == request.id)
            .order_by(col(RequestDocument.position))
        )
    ).first()
    events = await session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.org_id == request.org_id,
            AuditEvent.document_id == first,
            AuditEvent.action == f"signature.{requests.CANCELLED}",
        )
        .order_by(col(AuditEvent.id).desc())
    )
    for event in events.all():
        if event.details.get("request_id") == request.id:
            reason = event.details.get("reason")
            return str(reason) if reason else None
    return None


async def notice_link(env: Env, notice: SignNotice, *, via: str) -> str:
    """A fresh link to the party's page for this notice, issued for the channel it takes:
    the recipient's own (or their colleague's), or the ad-hoc party's by mail."""
    party_id = id_of(notice.party)
    if notice.recipient is not None:
        return await deciding.link_for_recipient(
            env, party_id=party_id, recipient_id=id_of(notice.recipient), via=via
        )
    async with env.sessions() as session, session.begin():
        party = await session.get(Party, party_id)
        if party is None:
            raise NotFound("this request is no longer available")
        return await requests.mint_link(session, party, Via.EMAIL, env.clock.now())


async def chat_link(env: Env, *, party_id: int, chat_id: int, telegram_user_id: int) -> str:
    """A fresh link to ``party_id``'s page for the person pressing a button in a chat: the
    party themself or, in a shared cabinet, a colleague, and only from the Telegram account
    linked to them. Gone once the request ended without their decision."""
    now = env.clock.now()
    async with env.reads() as session:
        party = await session.get(Party, party_id)
        if party is None:
            raise NotFound(
                "this request is no longer available", says="signing.refusal.unavailable"
            )
        request = await session.get(SignatureRequest, party.request_id)
        assert request is not None
        decided = await session.get(PartyDecision, party_id)
        if request.status != requests.PENDING and decided is None:
            raise Gone("this request is no longer available", says="signing.refusal.unavailable")
        people = (
            await session.exec(
                select(Recipient)
                .where(Recipient.telegram_chat_id == chat_id, Recipient.org_id == party.org_id)
                .order_by(col(Recipient.id))
            )
        ).all()
        live = [p for p in people if can_receive(p, now) is None]
        chosen = next((p for p in live if p.id == party.recipient_id), None)
        for person in live:
            if chosen is not None:
                break
            chosen = await deciding.shared_cabinet_colleague(session, party, id_of(person))
    if chosen is None:
        raise NotAllowed(
            "this request was sent to someone else", says="signing.refusal.someone_else"
        )
    if chosen.telegram_user_id != telegram_user_id:
        raise NotAllowed(
            "this Telegram account is not the one this request was sent to",
            says="signing.refusal.other_telegram",
        )
    return await deciding.link_for_recipient(
        env, party_id=party_id, recipient_id=id_of(chosen), via=Via.TELEGRAM
    )
