"""Opening and downloading a shared document by its token, and recording that it happened.

A visit is recorded one of two ways. By itself, ``open_shared`` / ``start_download`` check
the token and record the visit in one write transaction of its own. Given an
``AccessRecorder`` (the web app runs one), they check the token with a read-only query and
hand the visit to the recorder, which writes every visit waiting at that moment in one
transaction (group commit) and lets each caller go on only once its visit is committed:
no response is sent before its audit event is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import BindParameter, Connection, bindparam, func, select
from sqlmodel import SQLModel, col

from storage.detached import ModelColumns
from storage.errors import log_failure
from storage.models import Document, Organization, PersonalLink, Recipient, Share, SpaceMember
from storage.quick import quick_core, read_rows
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import (
    Gone,
    NotAllowed,
    NotAvailableNow,
    NotFound,
    Unavailable,
    When,
    WorkflowError,
)
from workflows.outbox.kinds import Kind
from workflows.people.recipients import can_receive
from workflows.sharing import staff_notices
from workflows.tokens import hash_token, well_formed
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events

log = logging.getLogger(__name__)

VisitKind = Literal["open", "download"]
GATHERING_TURNS = 4
"""Turns of the event loop a recorder lets pass, while each brings visits, before it
writes a batch."""
_M = TypeVar("_M", bound=SQLModel)


@dataclass(frozen=True)
class SharedDocument:
    share: Share
    document: Document
    organization: Organization
    recipient: Recipient | None


@dataclass(frozen=True)
class Visitor:
    """Where a web request came from; recorded with every open and download."""

    ip: str | None = None
    user_agent: str | None = None


async def resolve(env: Env, token: str) -> SharedDocument:
    """Check a token and everything that limits it, without recording anything."""
    return await _resolve(env, token, env.clock.now())


async def open_shared(
    env: Env, token: str, visitor: Visitor, *, recorder: AccessRecorder | None = None
) -> SharedDocument:
    """Resolve a token for viewing and record the visit (through ``recorder`` if given)."""
    return await _visit(env, "open", token, visitor, recorder)


async def start_download(
    env: Env, token: str, visitor: Visitor, *, recorder: AccessRecorder | None = None
) -> SharedDocument:
    """Resolve a token for a download, count it against the link's limit and record it
    (through ``recorder`` if given)."""
    return await _visit(env, "download", token, visitor, recorder)


async def _visit(
    env: Env, kind: VisitKind, token: str, visitor: Visitor, recorder: AccessRecorder | None
) -> SharedDocument:
    """Resolve, then record the visit under the share's lock by the same rules whether it
    goes through a recorder's batch or on its own."""
    found = await resolve(env, token)
    if recorder is not None:
        await recorder.record(kind, found, visitor)
        return found
    visit = _Visit(kind, found, visitor, env.clock.now())
    refusal = (await _record_visits(env, [visit])).get(visit)
    if refusal is not None:
        raise refusal
    return found


# -- group commit -------------------------------------------------------------------------


@dataclass(eq=False)
class _Visit:
    kind: VisitKind
    found: SharedDocument
    visitor: Visitor
    at: datetime


@dataclass(eq=False)
class _Pending(_Visit):
    """A visit waiting in a recorder's queue, and the future its caller awaits."""

    outcome: asyncio.Future[None] = field(repr=False)


class AccessRecorder:
    """Records opens and downloads in batches, one writer task, one transaction per batch.

    A batch is every visit queued while the previous one was being written (at most
    ``max_batch``). Its transaction locks the shares concerned, counts the visits in order
    (a download past a link's limit, or any visit to a link revoked or expired since it
    was resolved, is refused with ``Gone`` and records nothing), updates each share once,
    and appends the events with one chain-head lock per organisation and one insert. Each
    caller of ``record`` resumes when its batch has committed, or raises what made the
    batch fail. Start and stop it with the process (``start`` / ``stop``).
    """

    def __init__(self, env: Env, *, max_batch: int = 256, stop_timeout: float = 10.0) -> None:
        self._env = env
        self._max_batch = max_batch
        self._stop_timeout = stop_timeout
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._writer is not None:
            raise RuntimeError("the access recorder is already running")
        self._writer = asyncio.create_task(self._write_batches(), name="access-recorder")

    async def stop(self) -> None:
        """Take no more visits, write those queued, and fail whatever is still waiting
        after ``stop_timeout`` seconds with ``Unavailable``."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._queue.put_nowait(None)  # the writer ends when it reaches this
        _, late = await asyncio.wait({writer}, timeout=self._stop_timeout)
        if late:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                _settle(pending, Unavailable("visits are not being recorded right now"))

    async def record(self, kind: VisitKind, found: SharedDocument, visitor: Visitor) -> None:
        """Queue one visit to a resolved link; return once it is committed.

        Raises ``Gone`` when the visit was refused, ``Unavailable`` when the recorder is
        not running, and whatever failed the batch's transaction otherwise.
        """
        if self._writer is None:
            raise Unavailable("visits are not being recorded right now")
        pending = _Pending(
            kind=kind,
            found=found,
            visitor=visitor,
            at=self._env.clock.now(),
            outcome=asyncio.get_running_loop().create_future(),
        )
        self._queue.put_nowait(pending)
        await pending.outcome

    async def _write_batches(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await self._next_batch()
            try:
                refusals = await self._write(batch)
            except asyncio.CancelledError:
                for pending in batch:
                    _settle(pending, Unavailable("visits are not being recorded right now"))
                raise
            except Exception as error:  # every waiter learns of it; the next batch may work
                log_failure(log, error, "recording a batch of %d visits failed", len(batch))
                for pending in batch:
                    _settle(pending, error)
            else:
                for pending in batch:
                    _settle(pending, refusals.get(pending))

    async def _next_batch(self) -> tuple[list[_Pending], bool]:
        """What is queued now (waiting for one visit if nothing is), and whether the stop
        marker was reached. Visits whose caller has gone are left out."""
        batch: list[_Pending] = []
        item = await self._queue.get()
        # A few turns of the event loop first, while they bring more: requests already
        # under way (their token being resolved) join this batch rather than wait for
        # the next one, and a batch costs much the same whatever its size.
        for _ in range(GATHERING_TURNS):
            waiting = self._queue.qsize()
            await asyncio.sleep(0)
            if self._queue.qsize() == waiting:
                break
        while True:
            if item is None:
                return batch, True
            if not item.outcome.done():
                batch.append(item)
            if len(batch) >= self._max_batch or self._queue.empty():
                return batch, False
            item = self._queue.get_nowait()

    async def _write(self, batch: list[_Pending]) -> dict[_Visit, Exception]:
        """One transaction for ``batch``; returns the visits refused, with their reason."""
        return await _record_visits(self._env, batch)


async def _record_visits(env: Env, batch: Sequence[_Visit]) -> dict[_Visit, Exception]:
    """Record ``batch`` in one transaction; returns the visits refused, with their reason."""
    if not batch:
        return {}
    async with quick_core(env.sessions) as transaction:
        # The counting and the history go in one synchronous step, Core statements on the
        # transaction's connection: a batch is written on every page view, and each
        # statement sent through the asynchronous ORM session cost more than SQLite spent
        # on it. Only the first visits, which staff are told of, need a session.
        counted = await transaction.run(lambda connection: _count_visits(connection, batch))
        notices = counted.notices
        if notices:
            session = transaction.session()
            await outbox.enqueue_many(session, list(notices.values()), at=batch[-1].at)
            # Webhooks report the first visits staff hear of: no query for any other visit.
            visits = webhook_events.of_visits(notices.values(), at=batch[-1].at)
            await emitting.emit_many(session, visits)
    return counted.refusals


@dataclass
class _Counted:
    refusals: dict[_Visit, Exception] = field(default_factory=dict)
    notices: dict[str, outbox.NewNotification] = field(default_factory=dict)


def _count_visits(connection: Connection, batch: Sequence[_Visit]) -> _Counted:
    """Lock the shares of ``batch``, judge and count each visit, write each share's
    counters once and append the visits' events; what was refused, and the staff notices
    the first visits bring."""
    counted = _Counted()
    events: list[audit.NewEvent] = []
    # Lock the shares, then (in append_events_now) the chain heads, each in id order: the
    # order other writers take them in, so that recorders in several processes, and the
    # other workflows, line up instead of deadlocking.
    ids = sorted({_share_id(visit) for visit in batch})
    locked = connection.execute(_LOCK_SHARES, {"ids": ids})
    shares = {row.id: _Counters(**row._mapping) for row in locked}
    for visit in batch:
        share = shares.get(_share_id(visit))
        refusal = _share_refusal(share, visit.at)
        if refusal is not None:
            counted.refusals[visit] = refusal
            continue
        assert share is not None
        for notice in _staff_notices(visit.kind, visit.found, share):
            counted.notices.setdefault(notice.dedupe_key, notice)
        events.append(_count(share, visit))
    # Each share counted is written once (its row is locked until the commit).
    written = sorted({event.share_id for event in events if event.share_id is not None})
    if written:
        connection.execute(_WRITE_COUNTERS, [_counters(shares[i]) for i in written])
    audit.append_events_now(connection, events)
    return counted


@dataclass(eq=False)
class _Counters:
    """A share's row as a visit is judged and counted by it, locked until the commit."""

    id: int
    org_id: int
    document_id: int
    kind: str
    expires_at: datetime | None
    revoked_at: datetime | None
    max_downloads: int | None
    download_count: int
    open_count: int
    first_opened_at: datetime | None


_SHARES = Share.__table__  # type: ignore[attr-defined]
_COUNTED = [_SHARES.c[name] for name in _Counters.__dataclass_fields__]
_LOCK_SHARES = (
    select(*_COUNTED)
    .where(_SHARES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_SHARES.c.id)
    .with_for_update()
)
_WRITE_COUNTERS = (
    _SHARES.update()
    .where(_SHARES.c.id == bindparam("share_id"))
    .values(
        open_count=bindparam("opens"),
        download_count=bindparam("downloads"),
        first_opened_at=bindparam("first_opened"),
    )
)


def _counters(share: _Counters) -> dict[str, Any]:
    return {
        "share_id": share.id,
        "opens": share.open_count,
        "downloads": share.download_count,
        "first_opened": share.first_opened_at,
    }


def _count(share: _Counters, pending: _Visit) -> audit.NewEvent:
    """Count one accepted visit on its (locked) share and describe its audit event."""
    details: dict[str, Any]
    if pending.kind == "open":
        first = share.first_opened_at is None
        if first:
            share.first_opened_at = pending.at
        share.open_count += 1
        action, details = "document.opened", {"first": first}
    else:
        share.download_count += 1
        action, details = "document.downloaded", {"download": share.download_count}
    return audit.NewEvent(
        org_id=share.org_id,
        actor=_actor(pending.found, pending.visitor),
        action=action,
        at=pending.at,
        document_id=share.document_id,
        share_id=share.id,
        details=details,
    )


def _staff_notices(
    kind: VisitKind, found: SharedDocument, counted: _Counters
) -> list[outbox.NewNotification]:
    """The staff notice of a first visit of its kind, judged by ``counted``'s counters
    before this visit. A space's share counts every member's visits, so there each visit
    offers one and the dedupe key lets only a member's first through; elsewhere a visit
    after the first writes nothing, keeping the outbox off the path of every page view."""
    seen = counted.open_count if kind == "open" else counted.download_count
    if counted.kind != "space" and seen:
        return []
    notice = staff_notices.visit_notice(
        found.share,
        kind=Kind.DOCUMENT_OPENED if kind == "open" else Kind.DOCUMENT_DOWNLOADED,
        recipient_id=found.recipient.id if found.recipient is not None else None,
    )
    return [notice]


def _share_id(pending: _Visit) -> int:
    share_id = pending.found.share.id
    assert share_id is not None
    return share_id


def _settle(pending: _Pending, error: BaseException | None) -> None:
    if pending.outcome.done():  # the caller has gone
        return
    if error is None:
        pending.outcome.set_result(None)
    else:
        pending.outcome.set_exception(error)


# -- resolving a token --------------------------------------------------------------------

_DIGEST: BindParameter[str] = bindparam("digest")


def _columns(model: Any, prefix: str, *, leaving_out: tuple[str, ...] = ()) -> list[Any]:
    table = model.__table__
    return [c.label(prefix + c.key) for c in table.columns if c.key not in leaving_out]


_SHARE_COLUMNS = _columns(Share, "s_")
# A PDF's extracted text can be megabytes; no page view needs it.
_DOCUMENT_COLUMNS = _columns(Document, "d_", leaving_out=("text_content",))
_ORGANIZATION_COLUMNS = _columns(Organization, "o_")
_RECIPIENT_COLUMNS = _columns(Recipient, "r_")

_BY_TOKEN = (
    select(
        *_SHARE_COLUMNS,
        *_DOCUMENT_COLUMNS,
        *_ORGANIZATION_COLUMNS,
        *_RECIPIENT_COLUMNS,
        col(PersonalLink.id).label("personal_link_id"),
        col(SpaceMember.recipient_id).label("space_member_id"),
    )
    .select_from(Share)
    .join(Document, col(Document.id) == Share.document_id)
    .join(Organization, col(Organization.id) == Share.org_id)
    .outerjoin(
        PersonalLink,
        (col(PersonalLink.share_id) == Share.id) & (col(PersonalLink.token_hash) == _DIGEST),
    )
    .outerjoin(
        Recipient,
        col(Recipient.id) == func.coalesce(PersonalLink.recipient_id, Share.recipient_id),
    )
    .outerjoin(
        SpaceMember,
        (col(SpaceMember.space_id) == Share.space_id)
        & (col(SpaceMember.recipient_id) == PersonalLink.recipient_id),
    )
    .where(
        (col(Share.token_hash) == _DIGEST)
        | (
            col(Share.id)
            == select(col(PersonalLink.share_id))
            .where(col(PersonalLink.token_hash) == _DIGEST)
            .scalar_subquery()
        )
    )
)
"""A link's share with its document and organisation, found by the share's own token or a
personal link's; with the personal link, the recipient (the link's, else the share's) and
whether the recipient is a member of the share's space. Plain columns: one statement, no
ORM session or identity map on the path of every page view and download."""


_KEYS = list(_BY_TOKEN.selected_columns.keys())
_SHARE = ModelColumns(Share, _SHARE_COLUMNS, _KEYS)
_DOCUMENT = ModelColumns(Document, _DOCUMENT_COLUMNS, _KEYS)
_ORGANIZATION = ModelColumns(Organization, _ORGANIZATION_COLUMNS, _KEYS)
_RECIPIENT = ModelColumns(Recipient, _RECIPIENT_COLUMNS, _KEYS)
_PERSONAL_LINK_AT = _KEYS.index("personal_link_id")
_SPACE_MEMBER_AT = _KEYS.index("space_member_id")


async def _resolve(env: Env, token: str, now: datetime) -> SharedDocument:
    if not well_formed(token):
        raise NotFound("this link does not exist")
    rows = await read_rows(env.sessions, _BY_TOKEN, {"digest": hash_token(token)})
    if not rows:
        raise NotFound("this link does not exist")
    row = rows[0]
    share = _SHARE.read(row)
    refusal = _share_refusal(share, now)
    if refusal is not None:
        raise refusal
    document = _DOCUMENT.read(row)
    organization = _ORGANIZATION.read(row)
    recipient = _RECIPIENT.read_optional(row)
    personal, member = row[_PERSONAL_LINK_AT], row[_SPACE_MEMBER_AT]
    if recipient is not None:
        if can_receive(recipient, now):
            raise NotAllowed(
                "your access to this organisation's documents has ended",
                says="refusal.link.access_ended",
            )
        if personal is not None and share.space_id is not None and member is None:
            raise Gone(
                "you are no longer a member of the space this was shared with",
                says="refusal.link.left_space",
            )
    if document.available_from is not None and now < document.available_from:
        raise NotAvailableNow(
            "this document is not available yet",
            available_from=document.available_from,
            available_until=document.available_until,
        )
    if document.available_until is not None and now >= document.available_until:
        raise NotAvailableNow(
            "this document is no longer available",
            available_from=document.available_from,
            available_until=document.available_until,
        )
    return SharedDocument(share, document, organization, recipient)


def _share_refusal(share: Share | _Counters | None, now: datetime) -> WorkflowError | None:
    """Why the link itself no longer works at ``now``, if it does not."""
    if share is None:
        return NotFound("this link does not exist", says="refusal.link.unknown")
    if share.revoked_at is not None:
        return Gone("this link was revoked", says="refusal.link.revoked")
    if share.expires_at is not None and share.expires_at <= now:
        return Gone(
            f"this link expired on {share.expires_at:%Y-%m-%d %H:%M} UTC",
            says="refusal.link.expired",
            at=When(share.expires_at),
        )
    if share.max_downloads is not None and share.download_count >= share.max_downloads:
        return Gone("this link has reached its download limit", says="refusal.link.used_up")
    return None


def _actor(found: SharedDocument, visitor: Visitor) -> Actor:
    if found.recipient is not None:
        actor = Actor(type="recipient", id=str(found.recipient.id), label=found.recipient.name)
    else:
        actor = Actor(type="link", id=str(found.share.id), label=f"{found.share.kind} share")
    return actor.with_request(ip=visitor.ip, user_agent=visitor.user_agent)
