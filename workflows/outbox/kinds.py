"""Every name the outbox stores, defined once: the kinds of notification, the channels that
take them, the ways they go out, their statuses, and what each kind carries.

The enums are ``StrEnum``: a member is the very string the database holds, so a row
written before these names existed reads the same. Each kind's payload is a frozen
dataclass, built by the workflow that queues the row (``payload.to_json()`` is what
``enqueue`` stores) and read back by the worker that takes it (``SharePayload.parse(row)``,
or `parse` when the kind is not known in advance). A row whose kind is unknown, or whose
payload lacks what its kind needs, raises `BadPayload` instead of being guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Protocol,
    Self,
    TypeAlias,
    TypeVar,
    runtime_checkable,
)

from pydantic import Field as PydanticField
from pydantic import TypeAdapter, ValidationError

from storage.models import Notification
from workflows import json_text
from workflows.errors import InvalidInput


class Kind(StrEnum):
    """What a notification tells (the ``kind`` column)."""

    # To recipients and signing parties: channel RECIPIENT, or PARTY for people outside.
    DOCUMENT_SHARED = "document.shared"
    AVAILABILITY_ENDING = "remind.availability"
    """A shared document, not yet opened, stops being available soon."""
    ACCESS_ENDING = "access.ending"
    """The recipient's access to the organisation's documents ends soon."""
    SIGN_INVITE = "sign.invite"
    SIGN_CODE = "sign.code"
    """A one-time code; the row loses it once settled (`CodePayload.scrubbed`)."""
    SIGN_REMINDER = "remind.sign"
    SIGN_ENDED = "sign.ended"
    """The request was declined, cancelled or expired."""
    SIGN_COMPLETED = "sign.completed"
    SIGNED_FILE = "sign.file"
    """One signed and sealed PDF, sent as a file into a party's Telegram chat."""
    PORTAL_SIGN_IN = "portal.sign_in"
    """A one-time link to the recipient's portal, asked for on its sign-in page: by mail,
    its token minted as it goes out."""
    INVITATION = "recipient.invitation"
    """Staff invite a recipient by mail: a one-time link to their portal and, where Telegram
    is set up, a link that connects their chat; both minted as the mail goes out."""
    CABINET_DOCUMENT = "cabinet.document"
    """A colleague in the recipient's shared cabinet received a document."""
    CABINET_JOINED = "cabinet.joined"
    """A colleague now has access to the recipient's shared cabinet (added or unblocked)."""
    CABINET_LEFT = "cabinet.left"
    """A colleague no longer has access to the recipient's shared cabinet (blocked)."""

    # To staff: channel SLACK.
    DOCUMENT_OPENED = "document.opened"
    DOCUMENT_DOWNLOADED = "document.downloaded"
    DOCUMENT_RETURNED = "document.returned"
    DOCUMENT_UNOPENED = "document.unopened"
    """A document stops being available soon and some recipients have not opened it."""
    LINK_UNUSED = "link.expired_unused"
    """A link whose creator asked to be told expired never opened nor downloaded."""
    RECIPIENT_ACCESS_ENDING = "recipient.access_ending"
    """A recipient's access ends soon (the recipient is told with ACCESS_ENDING)."""
    SIGN_STATUS = "sign.status"
    """A signature request moved on: a party decided, or it completed or ended."""
    DELIVERY_FAILED = "delivery.failed"
    DEAD_SUMMARY = "delivery.dead_summary"
    """The day's summary of deliveries given up."""

    # To the sealing worker: channel SEAL.
    SEAL_REQUEST = "request.seal"

    # To an organisation's webhook endpoint: channel WEBHOOK.
    WEBHOOK = "webhook"
    """One event for one endpoint, its body fixed when queued (`workflows.webhooks`)."""
    WEBHOOK_DISABLED = "webhook.disabled"
    """To staff (channel SLACK): an endpoint that kept failing was turned off."""


class Channel(StrEnum):
    """Which worker takes a row (the ``channel`` column)."""

    RECIPIENT = "recipient"
    """A recipient: by Telegram when linked, else by mail."""
    PARTY = "party"
    """A signing party outside the system: by mail."""
    SLACK = "slack"
    """Staff, in Slack."""
    SEAL = "seal"
    """The worker that seals completed signature requests."""
    WEBHOOK = "webhook"
    """The worker that calls organisations' webhook endpoints."""


class Via(StrEnum):
    """How a row went out (the ``delivered_via`` column); a person is reached by TELEGRAM
    or EMAIL, which is also how a one-time code and a personal link say they travelled."""

    TELEGRAM = "telegram"
    EMAIL = "email"
    SLACK = "slack"
    SEAL = "seal"
    WEBHOOK = "webhook"


class Hold(StrEnum):
    """A route that sends nothing now."""

    WAIT = "wait"
    """No way to reach the person yet: kept until one appears."""
    CANCEL = "cancel"
    """Not to be sent at all."""


Way: TypeAlias = Via | Hold
"""Where routing sends a row: out by TELEGRAM or EMAIL, or held."""
N = TypeVar("N")


@dataclass(frozen=True)
class Route(Generic[N]):
    """How a notification's notice reaches its reader: by Telegram or mail, or held — to
    wait for a channel, or cancelled, with the reason."""

    way: Way
    notice: N | None = None
    reason: str | None = None


class Status(StrEnum):
    """Where a row stands (the ``status`` column)."""

    PENDING = "pending"
    SENDING = "sending"
    """Claimed by a worker, for the length of its lease."""
    SENT = "sent"
    WAITING = "waiting"
    """Nobody can be reached yet; released when a channel appears."""
    CANCELLED = "cancelled"
    DEAD = "dead"
    """Given up after the last attempt; staff may retry it."""


class Preference(StrEnum):
    """The notifications a recipient turns on or off for a chat (their
    ``notification_prefs``); in this order in the bot's settings."""

    SHARED = Kind.DOCUMENT_SHARED.value
    """Named after the kind it turns off."""
    REMINDER = "reminder"
    SIGNATURE = "signature"
    CABINET = "cabinet"
    """What happens in the recipient's shared cabinet: colleagues' new documents, who
    joined or left."""


class BadPayload(InvalidInput):
    """A row of an unknown kind, or whose payload lacks what its kind needs."""


# -- payloads -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Payload:
    """What a row carries, for one of the kinds in ``KINDS``."""

    KINDS: ClassVar[frozenset[Kind]]
    kind: Kind
    """Not stored in the payload: the row's own ``kind`` column."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()
    """Fields left out of the stored JSON while they are None (others are stored as null)."""

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise BadPayload(f"{type(self).__name__} does not carry {self.kind}")

    def to_json(self) -> dict[str, Any]:
        """The row's ``payload`` column: every field but ``kind``, by its stored name."""
        data = _adapter(type(self)).dump_python(self, by_alias=True, exclude={"kind"})
        return {
            name: _stored(value)
            for name, value in data.items()
            if not (value is None and name in self.OMITTED_WHEN_NONE)
        }

    def texts(self, varying: str, values: Sequence[Any]) -> list[str]:
        """The stored text (``json.dumps`` of `to_json`) of this payload with its field
        ``varying`` holding each of ``values`` in turn, which must be of that field's type:
        spelled from one encoding, for the many notices of one share with a group."""
        sample: dict[str, Any] = self.to_json()
        if varying not in sample:
            raise ValueError(f"{type(self).__name__} stores no field {varying}")
        sample[varying] = json_text.Slot(0)
        template = json_text.Template(json_text.DUMPS, sample)
        return template.fill_many(len(values), [values])

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, kind: Kind) -> Self:
        """A payload of ``kind`` read from the stored JSON, checked as strictly as JSON
        allows (a number given as text is refused, not guessed at)."""
        try:
            return _adapter(cls).validate_json(
                json.dumps({**data, "kind": kind.value}), strict=True
            )
        except ValidationError as e:
            problem = e.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the payload"
            raise BadPayload(f"{where}: {problem['msg']}") from None

    @classmethod
    def parse(cls, row: Notification) -> Self:
        """The payload of ``row``, which must be of one of this class's kinds."""
        kind = _kind(row)
        if kind not in cls.KINDS:
            raise BadPayload(f"a {kind} notification does not carry a {cls.__name__}")
        return cls.from_json(_object(row.payload), kind=kind)


@dataclass(frozen=True, kw_only=True)
class SharePayload(Payload):
    """A document was shared with the recipient."""

    KINDS = frozenset({Kind.DOCUMENT_SHARED})
    kind: Kind = Kind.DOCUMENT_SHARED
    share_id: int
    document_id: int


@dataclass(frozen=True, kw_only=True)
class AvailabilityPayload(Payload):
    """A document shared through ``share_id`` stops being available at ``available_until``;
    the reminder is stale once that moment changes."""

    KINDS = frozenset({Kind.AVAILABILITY_ENDING})
    kind: Kind = Kind.AVAILABILITY_ENDING
    share_id: int
    document_id: int
    available_until: datetime


@dataclass(frozen=True, kw_only=True)
class AccessPayload(Payload):
    """A recipient's access ends at ``access_expires_at``: told to them, and to staff."""

    KINDS = frozenset({Kind.ACCESS_ENDING, Kind.RECIPIENT_ACCESS_ENDING})
    recipient_id: int
    access_expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class PartyPayload(Payload):
    """News of a signature request for one of its parties."""

    KINDS = frozenset({Kind.SIGN_INVITE, Kind.SIGN_REMINDER, Kind.SIGN_ENDED, Kind.SIGN_COMPLETED})
    request_id: int
    party_id: int


@dataclass(frozen=True, kw_only=True)
class CodePayload(Payload):
    """A one-time code for a party, to go ``via`` the channel the page named. ``code`` is
    None once the row is settled: a code never outlives its sending."""

    KINDS = frozenset({Kind.SIGN_CODE})
    OMITTED_WHEN_NONE = frozenset({"code"})
    kind: Kind = Kind.SIGN_CODE
    request_id: int
    party_id: int
    code: str | None = None
    via: Via

    def scrubbed(self) -> CodePayload:
        """The payload to keep once the row is settled: without the code."""
        return replace(self, code=None)


@dataclass(frozen=True, kw_only=True)
class SignInPayload(Payload):
    """The sign-in link asked for as ``request_id`` (a `SignInRequest`)."""

    KINDS = frozenset({Kind.PORTAL_SIGN_IN})
    kind: Kind = Kind.PORTAL_SIGN_IN
    request_id: int


@dataclass(frozen=True, kw_only=True)
class InvitationPayload(Payload):
    """The invitation of ``recipient_id`` queued at ``queued_at`` (their ``invite_sent_at``
    then: a later invitation replaces it). It holds no link: the worker mints them."""

    KINDS = frozenset({Kind.INVITATION})
    kind: Kind = Kind.INVITATION
    recipient_id: int
    queued_at: datetime


@dataclass(frozen=True, kw_only=True)
class CabinetDocumentPayload(Payload):
    """Document ``document_id`` reached the recipient's shared cabinet: colleague
    ``colleague_id`` received it through ``share_id``, and ``others`` more colleagues of
    the cabinet in the same share."""

    KINDS = frozenset({Kind.CABINET_DOCUMENT})
    kind: Kind = Kind.CABINET_DOCUMENT
    document_id: int
    share_id: int
    colleague_id: int
    others: int = 0


@dataclass(frozen=True, kw_only=True)
class CabinetMemberPayload(Payload):
    """Colleague ``colleague_id`` joined (CABINET_JOINED) or left (CABINET_LEFT) the
    recipient's shared cabinet."""

    KINDS = frozenset({Kind.CABINET_JOINED, Kind.CABINET_LEFT})
    colleague_id: int


@dataclass(frozen=True, kw_only=True)
class SignedFilePayload(Payload):
    """The sealed PDF ``document_id`` of a completed request, for a party's chat."""

    KINDS = frozenset({Kind.SIGNED_FILE})
    kind: Kind = Kind.SIGNED_FILE
    request_id: int
    party_id: int
    document_id: int


@dataclass(frozen=True, kw_only=True)
class VisitPayload(Payload):
    """A first open or download of a share, by a recipient or (None) through a link."""

    KINDS = frozenset({Kind.DOCUMENT_OPENED, Kind.DOCUMENT_DOWNLOADED})
    document_id: int
    share_id: int
    recipient_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ReturnedPayload(Payload):
    """A recipient sent a document back."""

    KINDS = frozenset({Kind.DOCUMENT_RETURNED})
    kind: Kind = Kind.DOCUMENT_RETURNED
    document_id: int
    recipient_id: int


@dataclass(frozen=True, kw_only=True)
class UnopenedPayload(Payload):
    """Recipients who have not opened a document that stops being available soon."""

    KINDS = frozenset({Kind.DOCUMENT_UNOPENED})
    kind: Kind = Kind.DOCUMENT_UNOPENED
    document_id: int
    recipient_ids: tuple[int, ...]
    available_until: datetime


@dataclass(frozen=True, kw_only=True)
class LinkUnusedPayload(Payload):
    """A link (share ``share_id``) expired at ``expires_at`` without being used."""

    KINDS = frozenset({Kind.LINK_UNUSED})
    kind: Kind = Kind.LINK_UNUSED
    document_id: int
    share_id: int
    expires_at: datetime


@dataclass(frozen=True, kw_only=True)
class SignStatusPayload(Payload):
    """Request ``request_id`` is now ``status``: a party's decision (``party_id``), or how
    it ended; ``sealed`` lists the refs of the signed PDFs of a completed one."""

    KINDS = frozenset({Kind.SIGN_STATUS})
    OMITTED_WHEN_NONE = frozenset({"party_id", "sealed"})
    kind: Kind = Kind.SIGN_STATUS
    request_id: int
    status: str
    party_id: int | None = None
    sealed: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class FailurePayload(Payload):
    """Notification ``notification_id`` was given up; staff may retry it."""

    KINDS = frozenset({Kind.DELIVERY_FAILED})
    kind: Kind = Kind.DELIVERY_FAILED
    notification_id: int
    notification_kind: str
    """The kind of the row given up, as it was stored."""
    document_id: int | None = None
    recipient_id: int | None = None
    error: str


@dataclass(frozen=True, kw_only=True)
class DeadSummaryPayload(Payload):
    """How many deliveries were given up, by kind, as of the organisation's ``date``."""

    KINDS = frozenset({Kind.DEAD_SUMMARY})
    kind: Kind = Kind.DEAD_SUMMARY
    count: int
    by_kind: Mapping[str, int] = field(default_factory=dict)
    day: Annotated[date, PydanticField(alias="date")]


@dataclass(frozen=True, kw_only=True)
class SealPayload(Payload):
    """Request ``request_id`` waits for its seal."""

    KINDS = frozenset({Kind.SEAL_REQUEST})
    kind: Kind = Kind.SEAL_REQUEST
    request_id: int


@dataclass(frozen=True, kw_only=True)
class WebhookPayload(Payload):
    """Event ``event_type`` for endpoint ``endpoint_id``: ``body`` is the exact JSON sent
    under ``message_id`` (the ``webhook-id``) on every attempt, never rebuilt."""

    KINDS = frozenset({Kind.WEBHOOK})
    kind: Kind = Kind.WEBHOOK
    endpoint_id: int
    event_type: str
    message_id: str
    body: str


@dataclass(frozen=True, kw_only=True)
class WebhookDisabledPayload(Payload):
    """Endpoint ``endpoint_id`` (``url``) was turned off after failing for ``reason``."""

    KINDS = frozenset({Kind.WEBHOOK_DISABLED})
    kind: Kind = Kind.WEBHOOK_DISABLED
    endpoint_id: int
    url: str
    reason: str


PAYLOADS: Mapping[Kind, type[Payload]] = {
    kind: payload
    for payload in (
        SharePayload,
        AvailabilityPayload,
        AccessPayload,
        PartyPayload,
        CodePayload,
        SignedFilePayload,
        SignInPayload,
        InvitationPayload,
        CabinetDocumentPayload,
        CabinetMemberPayload,
        VisitPayload,
        ReturnedPayload,
        UnopenedPayload,
        LinkUnusedPayload,
        SignStatusPayload,
        FailurePayload,
        DeadSummaryPayload,
        SealPayload,
        WebhookPayload,
        WebhookDisabledPayload,
    )
    for kind in payload.KINDS
}
"""The payload each kind carries."""
assert set(PAYLOADS) == set(Kind), "every kind has its payload"


def parse(row: Notification) -> Payload:
    """The payload of ``row``, whatever its kind."""
    kind = _kind(row)
    return PAYLOADS[kind].from_json(_object(row.payload), kind=kind)


# -- what a payload is about, whatever its kind ---------------------------------------------


@runtime_checkable
class OfDocument(Protocol):
    @property
    def document_id(self) -> int | None: ...


@runtime_checkable
class OfShare(Protocol):
    @property
    def share_id(self) -> int: ...


@runtime_checkable
class OfRecipient(Protocol):
    @property
    def recipient_id(self) -> int | None: ...


@runtime_checkable
class OfRequest(Protocol):
    @property
    def request_id(self) -> int: ...


def document_of(payload: Payload | None) -> int | None:
    """The document a notification is about, if it names one."""
    return payload.document_id if isinstance(payload, OfDocument) else None


def share_of(payload: Payload | None) -> int | None:
    """The share a notification is about, if it names one."""
    return payload.share_id if isinstance(payload, OfShare) else None


def recipient_of(payload: Payload | None) -> int | None:
    """The recipient a notification is about, if it names one."""
    return payload.recipient_id if isinstance(payload, OfRecipient) else None


def request_of(payload: Payload | None) -> int | None:
    """The signature request a notification is about, if it names one."""
    return payload.request_id if isinstance(payload, OfRequest) else None


def parsed(row: Notification) -> Payload | None:
    """The payload of ``row``, or None when it cannot be read: for showing what a row is
    about, where an unreadable one is simply about nothing in particular."""
    try:
        return parse(row)
    except BadPayload:
        return None


# -- reading JSON -------------------------------------------------------------------------


def _kind(row: Notification) -> Kind:
    try:
        return Kind(row.kind)
    except ValueError:
        raise BadPayload(f"unknown kind {row.kind}") from None


def _object(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadPayload("the payload is not an object")
    return value


_ADAPTERS: dict[type[Payload], TypeAdapter[Any]] = {}


def _adapter(payload: type[Payload]) -> TypeAdapter[Any]:
    """pydantic's reader and writer of ``payload``, made once."""
    adapter = _ADAPTERS.get(payload)
    if adapter is None:
        adapter = _ADAPTERS[payload] = TypeAdapter(payload)
    return adapter


def _stored(value: Any) -> Any:
    """A dumped field as JSON holds it, moments as ISO 8601 with their offset."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_stored(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _stored(v) for k, v in value.items()}
    if isinstance(value, StrEnum):
        return value.value
    return value
