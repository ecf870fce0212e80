"""The tables of the one store. Every row but Organization carries ``org_id``.

Annotations here are evaluated as the classes are made (no ``from __future__ import
annotations``): pydantic reads every field's type, and from strings it must compile each
one first, which every command paid at start-up."""

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.types import JSONType, UTCDateTime, utcnow

DEFAULT_CATEGORIES = ["contract", "annex", "fee table", "invoice", "statement", "other"]


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TableModel(SQLModel):
    """The base of every table: its pydantic validator and serializer are built when a row
    is first validated or dumped, not while this module is imported, as every command
    imports it and most never need them (rows are built and loaded without validation)."""

    model_config = {"defer_build": True}


class Organization(TableModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    default_language: str = Field(default="en", max_length=8)
    timezone: str = Field(default="UTC", max_length=64)
    remind_days_before: int = Field(default=3, sa_column_kwargs={"server_default": "3"})
    """How many days before a document stops being available its unopened recipients are
    reminded (0: never)."""
    quiet_hours_start: int = Field(default=9, sa_column_kwargs={"server_default": "9"})
    quiet_hours_end: int = Field(default=20, sa_column_kwargs={"server_default": "20"})
    """Reminders reach recipients only from start to end o'clock in ``timezone``."""
    slack_team_id: str | None = Field(default=None, max_length=32, unique=True)
    slack_channel: str | None = Field(default=None, max_length=32)
    """The Slack channel that gets every staff notice; without one, each goes to the staff
    member who shared."""
    storage_quota_bytes: int | None = None
    allow_active_content: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Accept PDFs that run JavaScript or programs by themselves (refused by default); each
    such document records what it holds in ``Document.active_content``."""
    categories: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CATEGORIES), sa_column=Column(JSONType, nullable=False)
    )
    next_document_number: int = Field(default=1)
    next_request_number: int = Field(default=1)
    contact_email: str | None = Field(default=None, max_length=320)
    contact_phone: str | None = Field(default=None, max_length=32)
    """How clients reach the organisation: shown on every page that tells them something
    went wrong."""
    created_at: datetime = _created()


class StaffUser(TableModel, table=True):
    __table_args__ = (
        UniqueConstraint("org_id", "email"),
        UniqueConstraint("org_id", "slack_user_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    slack_user_id: str | None = Field(default=None, max_length=32)
    role: str = Field(default="member", max_length=16)
    status: str = Field(default="active", max_length=16)
    walled: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Limited to the clients named in ``staff_client`` (an ethical wall): no row of any
    other client exists for them."""
    created_at: datetime = _created()


class StaffClient(TableModel, table=True):
    """A client a walled staff member may see."""

    __tablename__ = "staff_client"
    staff_id: int = Field(foreign_key="staffuser.id", primary_key=True, ondelete="CASCADE")
    client_id: int = Field(foreign_key="client.id", primary_key=True, ondelete="CASCADE")
    org_id: int = Field(foreign_key="organization.id", index=True)


class Client(TableModel, table=True):
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    shared_cabinet: bool = False
    created_at: datetime = _created()


class Recipient(TableModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    language: str = Field(default="en", max_length=8)
    telegram_chat_id: int | None = Field(default=None, index=True, sa_type=BigInteger)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger)
    telegram_username: str | None = Field(default=None, max_length=64)
    telegram_active: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """False once the person blocked the bot: delivery falls back to email."""
    invite_code_hash: str | None = Field(default=None, max_length=64, unique=True)
    invite_expires_at: datetime | None = _when()
    invite_used_at: datetime | None = _when()
    invite_sent_at: datetime | None = _when()
    """When the invitation was last mailed to the recipient."""
    status: str = Field(default="invited", max_length=16)
    access_expires_at: datetime | None = _when(index=True)
    notification_prefs: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    created_at: datetime = _created()


class Group(TableModel, table=True):
    __tablename__ = "recipient_group"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=200)
    created_at: datetime = _created()


class GroupMember(TableModel, table=True):
    group_id: int = Field(foreign_key="recipient_group.id", primary_key=True, ondelete="CASCADE")
    recipient_id: int = Field(foreign_key="recipient.id", primary_key=True, ondelete="CASCADE")
    org_id: int = Field(foreign_key="organization.id", index=True)


class Space(TableModel, table=True):
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    name: str = Field(max_length=200)
    created_at: datetime = _created()


class SpaceMember(TableModel, table=True):
    space_id: int = Field(foreign_key="space.id", primary_key=True, ondelete="CASCADE")
    recipient_id: int = Field(foreign_key="recipient.id", primary_key=True, ondelete="CASCADE")
    org_id: int = Field(foreign_key="organization.id", index=True)


class Document(TableModel, table=True):
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        UniqueConstraint("version_of", "version_no"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: int
    client_id: int = Field(foreign_key="client.id", index=True)
    title: str = Field(max_length=300)
    category: str = Field(max_length=64)
    filename: str = Field(max_length=255)
    media_type: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64, index=True)
    blob_key: str = Field(max_length=128)
    page_count: int | None = None
    text_content: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    available_from: datetime | None = _when()
    available_until: datetime | None = _when(index=True)
    version_of: int | None = Field(default=None, foreign_key="document.id", index=True)
    version_no: int = Field(default=1)
    direction: str = Field(default="outbound", max_length=16)
    uploaded_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    uploaded_by_recipient_id: int | None = Field(default=None, foreign_key="recipient.id")
    active_content: str | None = Field(default=None, max_length=500)
    """What in the PDF runs by itself (JavaScript, a Launch action…), when the organisation
    accepts such files; None for a file without."""
    created_at: datetime = _created()

    @property
    def ref(self) -> str:
        """The short reference staff type: ``D-12``."""
        return document_ref(self.number)


def document_ref(number: int) -> str:
    """``Document.ref`` of the document numbered ``number``."""
    return f"D-{number}"


class Share(TableModel, table=True):
    __table_args__ = (Index("ix_share_unused_expiry", "notify_unused_expiry", "expires_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    kind: str = Field(max_length=16)
    recipient_id: int | None = Field(default=None, foreign_key="recipient.id", index=True)
    space_id: int | None = Field(default=None, foreign_key="space.id", index=True)
    group_id: int | None = Field(default=None, foreign_key="recipient_group.id")
    token_hash: str = Field(max_length=64, unique=True)
    message: str | None = Field(default=None, max_length=2000)
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    created_at: datetime = _created()
    expires_at: datetime | None = _when()
    max_downloads: int | None = None
    download_count: int = 0
    open_count: int = 0
    first_opened_at: datetime | None = _when()
    revoked_at: datetime | None = _when()
    notify_unused_expiry: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    """Tell the staff who created it if it expires never opened nor downloaded."""


class RangeProgress(TableModel, table=True):
    """The parts of a shared file one visitor has fetched by range requests so far: once
    they make up the whole file, that is a download (counted, recorded) and the row goes."""

    __tablename__ = "range_progress"
    __table_args__ = (UniqueConstraint("share_id", "visitor"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    share_id: int = Field(foreign_key="share.id", index=True)
    visitor: str = Field(max_length=64)
    """A hash of the visitor's address and browser: pieces from one download manager."""
    spans: list[list[int]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    """The byte ranges fetched, merged: ``[[start, stop), …]``."""
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class AuditHead(TableModel, table=True):
    """The end of one organisation's chain; its row lock orders appends."""

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)


class AuditEvent(TableModel, table=True):
    __table_args__ = (
        UniqueConstraint("org_id", "seq"),
        Index("ix_auditevent_org_document", "org_id", "document_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    seq: int
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor_type: str = Field(max_length=16)
    actor_id: str | None = Field(default=None, max_length=64)
    actor_label: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=64)
    document_id: int | None = Field(default=None)
    share_id: int | None = Field(default=None)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditCheckpoint(TableModel, table=True):
    """One organisation's chain head as it was written to the durable medium: a statement
    (the event number and hash, the time) sealed and, with a TSA, timestamped. The
    statement on the medium is what counts; this row says where it is."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("org_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: int
    """1, 2, 3… per organisation."""
    seq: int
    hash: str = Field(max_length=64)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    reason: str = Field(max_length=16)
    """``interval`` (the periodic job, or `inkpost audit checkpoint`) or ``completion``."""
    request_id: int | None = Field(default=None, foreign_key="signature_request.id")
    statement_key: str = Field(max_length=64)
    signature_key: str = Field(max_length=64)
    timestamp_key: str | None = Field(default=None, max_length=64)
    event_seq: int
    """The history event that records this checkpoint (it comes after the head it covers)."""


class Notification(TableModel, table=True):
    __table_args__ = (Index("ix_notification_due", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    channel: str = Field(max_length=16)
    target: str = Field(max_length=128)
    kind: str = Field(max_length=64)
    payload: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False)
    )
    dedupe_key: str = Field(max_length=200, unique=True)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _created()
    last_error: str | None = Field(default=None, max_length=2000)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _when()
    delivered_via: str | None = Field(default=None, max_length=16)
    result: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSONType, nullable=False, server_default="{}")
    )
    created_at: datetime = _created()
    sent_at: datetime | None = _when()


class WebhookEndpoint(TableModel, table=True):
    """A URL of an organisation's own system that is called with the ``events`` it asked
    for, each signed with ``secret`` (Standard Webhooks). One that keeps failing is turned
    off (``disabled_at``, ``disabled_reason``) until staff turn it on again."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_org_enabled", "org_id", "enabled"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    secret: str = Field(max_length=100)
    """``whsec_`` and the base64 of the signing key: needed whole to sign, so kept whole."""
    previous_secret: str | None = Field(default=None, max_length=100)
    """The secret before the last rotation: it signs too, beside ``secret``, until
    ``previous_secret_until``, so that receivers can change over without a gap."""
    previous_secret_until: datetime | None = _when()
    description: str | None = Field(default=None, max_length=200)
    enabled: bool = True
    disabled_at: datetime | None = _when()
    disabled_reason: str | None = Field(default=None, max_length=500)
    failing_since: datetime | None = _when()
    """The first failed attempt since the last success; None while it succeeds."""
    dead_in_row: int = 0
    """Deliveries given up since the last success."""
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()


class PersonalLink(TableModel, table=True):
    """A web link to one share for one recipient (their own view of a space or direct share)."""

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    share_id: int = Field(foreign_key="share.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _created()


class ChannelFile(TableModel, table=True):
    """A file a chat platform already holds (Telegram's file_id), reused for the same blob."""

    channel: str = Field(max_length=16, primary_key=True)
    blob_key: str = Field(max_length=128, primary_key=True)
    file_id: str = Field(max_length=256)
    created_at: datetime = _created()


class ProcessedUpdate(TableModel, table=True):
    """Incoming platform updates already handled, so a repeated delivery is handled once."""

    source: str = Field(max_length=32, primary_key=True)
    update_id: str = Field(max_length=64, primary_key=True)
    processed_at: datetime = _created()


class SignatureRequest(TableModel, table=True):
    """An envelope: documents to be decided on by parties, in parallel or in order."""

    __tablename__ = "signature_request"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        Index("ix_signature_request_status_expires", "status", "expires_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: int
    title: str = Field(max_length=300)
    signing_order: str = Field(default="parallel", max_length=16)
    status: str = Field(default="pending", max_length=16, index=True)
    """pending, sealing, completed, declined, expired or cancelled."""
    message: str | None = Field(default=None, max_length=2000)
    language: str = Field(default="en", max_length=8)
    expires_at: datetime | None = _when(index=True)
    remind_every_days: int = Field(default=2)
    reminders_max: int = Field(default=3)
    created_by_staff_id: int | None = Field(default=None, foreign_key="staffuser.id")
    created_at: datetime = _created()
    status_changed_at: datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=2000)

    @property
    def ref(self) -> str:
        """The short reference staff type: ``S-4``."""
        return f"S-{self.number}"


class RequestDocument(TableModel, table=True):
    """A document of a request, with its sealed result once the request completes."""

    __tablename__ = "signature_request_document"
    request_id: int = Field(foreign_key="signature_request.id", primary_key=True)
    document_id: int = Field(foreign_key="document.id", primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    position: int
    sealed_document_id: int | None = Field(default=None, foreign_key="document.id")


class Party(TableModel, table=True):
    """A signer, approver or viewer of one request: a recipient, or a person known only by
    name and a way to reach them."""

    __table_args__ = (UniqueConstraint("request_id", "position"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    request_id: int = Field(foreign_key="signature_request.id", index=True)
    position: int
    role: str = Field(max_length=16)
    recipient_id: int | None = Field(default=None, foreign_key="recipient.id", index=True)
    name: str = Field(max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    telegram_username: str | None = Field(default=None, max_length=64)
    language: str = Field(default="en", max_length=8)
    invited_at: datetime | None = _when()
    opened_documents: list[int] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False, server_default="[]")
    )
    verified_via: str | None = Field(default=None, max_length=32)
    verified_at: datetime | None = _when()
    code_hash: str | None = Field(default=None, max_length=64)
    code_expires_at: datetime | None = _when()
    code_attempts: int = 0
    code_sent_at: datetime | None = _when()
    next_reminder_at: datetime | None = _when(index=True)
    """When the next scheduled reminder is due; None when no more are (or none yet)."""
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    reminded_at: datetime | None = _when()
    """When the last reminder (scheduled or asked for by staff) went, or will go out."""
    created_at: datetime = _created()


class PartyLink(TableModel, table=True):
    """A link to a party's signing page: the one shown to staff, or one minted for a channel.
    ``recipient_id`` names a colleague in a shared cabinet it was issued to, if not the party."""

    __tablename__ = "party_link"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    issued_for: str = Field(max_length=16)
    recipient_id: int | None = Field(default=None, foreign_key="recipient.id")
    created_at: datetime = _created()


class PartySession(TableModel, table=True):
    """A browser in which whoever decides through a party's link confirmed who they are,
    by a one-time code or by Telegram. The browser keeps the token in a cookie; only its
    hash is kept here. Another browser holding the same link is asked again."""

    __tablename__ = "party_session"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    via: str = Field(max_length=32)
    """How they confirmed: by a code sent by ``email`` or ``telegram``, or ``telegram`` itself
    vouching for a Mini App launch."""
    created_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class CodeEvent(TableModel, table=True):
    """A one-time code sent, or typed wrong: it limits how many codes one party is sent and
    how many wrong ones one address or one party may try in a day, and the completion
    certificate lists it; kept until a day after its request has ended."""

    __tablename__ = "code_event"
    __table_args__ = (Index("ix_code_event_ip_at", "ip", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    kind: str = Field(max_length=16)
    """``sent`` or ``wrong``."""
    ip: str | None = Field(default=None, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class PartyDecision(TableModel, table=True):
    """The one decision of a party: its primary key makes a second one impossible."""

    __tablename__ = "party_decision"
    party_id: int = Field(foreign_key="party.id", primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    request_id: int = Field(foreign_key="signature_request.id", index=True)
    decision: str = Field(max_length=16)
    """signed, approved or declined."""
    reason: str | None = Field(default=None, max_length=2000)
    typed_name: str | None = Field(default=None, max_length=200)
    decided_by_name: str = Field(max_length=200)
    decided_by_recipient_id: int | None = Field(default=None, foreign_key="recipient.id")
    auth_level: str = Field(max_length=32)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=512)
    signature_blob_key: str | None = Field(default=None, max_length=128)
    decided_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class PortalSession(TableModel, table=True):
    """A recipient signed in to their portal in one browser, which keeps the token in a
    cookie; only its hash is kept here. It ends after a while unused, at the latest at
    ``expires_at``, when they sign out everywhere, and when they are blocked."""

    __tablename__ = "portal_session"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    via: str = Field(max_length=16)
    """How they signed in: ``link`` (a personal link Inkpost sent), ``email`` (a sign-in
    link asked for) or ``telegram`` (the Mini App)."""
    created_at: datetime = _created()
    last_seen_at: datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    ended_at: datetime | None = _when()


class SignInRequest(TableModel, table=True):
    """A sign-in link asked for an address, kept to limit how often one address or one IP
    may ask: each ask is a row without a recipient, and each link for a recipient with that
    address a row with one, whose ``token_hash`` is set as its mail goes out and
    ``used_at`` once it was followed."""

    __tablename__ = "sign_in_request"
    __table_args__ = (Index("ix_sign_in_request_ip_at", "ip", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    email_hash: str = Field(max_length=64, index=True)
    ip: str | None = Field(default=None, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    org_id: int | None = Field(default=None, foreign_key="organization.id", index=True)
    recipient_id: int | None = Field(default=None, foreign_key="recipient.id", index=True)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    expires_at: datetime | None = _when()
    used_at: datetime | None = _when()


class UnsubscribeLink(TableModel, table=True):
    """The one-click unsubscribe link of one mail (RFC 8058): following it turns ``kind``
    off for email. Only its hash is kept."""

    __tablename__ = "unsubscribe_link"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    recipient_id: int = Field(foreign_key="recipient.id", index=True)
    kind: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _created()


class ApiKey(TableModel, table=True):
    """A key of the integration API: it acts as its organisation with ``scopes``, and when
    ``walled`` sees only the clients in ``api_key_client``. Only its hash is kept."""

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(max_length=64)
    prefix: str = Field(max_length=16)
    """The key's first characters, shown in listings so people can tell keys apart."""
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    walled: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = _created()
    last_used_at: datetime | None = _when()
    revoked_at: datetime | None = _when()
    budget: float | None = None
    """Requests the key may still make at once, as of ``budget_at``: its rate limit's
    bucket, shared by every process serving the API. None until its first request."""
    budget_at: datetime | None = _when()


class ApiKeyClient(TableModel, table=True):
    """A client a walled API key may see."""

    __tablename__ = "api_key_client"
    key_id: int = Field(foreign_key="api_key.id", primary_key=True, ondelete="CASCADE")
    client_id: int = Field(foreign_key="client.id", primary_key=True, ondelete="CASCADE")
    org_id: int = Field(foreign_key="organization.id", index=True)


class IdempotencyRecord(TableModel, table=True):
    """The first answer to a request sent with an ``Idempotency-Key``: a retry with the
    same key gets it again and changes nothing."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("key_id", "idempotency_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    key_id: int = Field(foreign_key="api_key.id", ondelete="CASCADE")
    idempotency_hash: str = Field(max_length=64)
    fingerprint: str = Field(max_length=64)
    """SHA-256 of the method, path and body: the same key with another request is refused."""
    status: int
    content_type: str = Field(max_length=64)
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
