"""The history: append-only events, hash-chained per organisation.

``hash = sha256(prev_hash || canonical_json(event))``. Appends lock the organisation's
chain head, so concurrent writers line up instead of forking the chain. ``record`` appends
one event; ``append_events`` appends many at once (the access recorder's group commits).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import bulk
from storage.models import AuditEvent, AuditHead, Document
from workflows import json_text
from workflows.context import Actor, Env
from workflows.errors import NotFound

GENESIS = "0" * 64


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""One encoder for every event: ``json.dumps`` with these options builds a new one per call."""


def canonical_json(value: Any) -> bytes:
    return _CANONICAL.encode(value).encode()


HASHED = (
    "org_id",
    "seq",
    "at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "document_id",
    "share_id",
    "details",
    "ip",
    "user_agent",
)
"""The fields the hash covers: everything but the row id and the hashes themselves."""


def event_body(event: AuditEvent) -> dict[str, Any]:
    return row_body({name: getattr(event, name) for name in HASHED})


def row_body(row: dict[str, Any]) -> dict[str, Any]:
    """The hashed fields of an event given as a row of column values."""
    body = {name: row[name] for name in HASHED}
    body["at"] = _at_text(row["at"])
    return body


def _at_text(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


VARYING = ("seq", "share_id", "details")
"""The hashed fields in which the events of one change differ."""


def canonical_bodies(rows: Sequence[dict[str, Any]]) -> list[bytes]:
    """The canonical JSON of each row's hashed fields (``row_body``), as ``canonical_json``
    spells it.

    Rows that differ only in their sequence number, share and the values (not the keys) of
    their details, as the events of one share with a group do, are spelled from one
    `json_text.Template`; others are encoded whole."""
    if not rows:
        return []
    first = rows[0]
    same = _fixed(first)
    keys = tuple(first["details"])
    alike = all(_fixed(row) == same and tuple(row["details"]) == keys for row in rows)
    template = None
    if alike and len(rows) > 1:
        details = [row["details"] for row in rows]
        varying = json_text.varying_keys(details)
        sample = row_body(first)
        sample["seq"] = json_text.Slot(0)
        sample["share_id"] = json_text.Slot(1)
        sample["details"] = {
            key: json_text.Slot(2 + varying.index(key)) if key in varying else value
            for key, value in first["details"].items()
        }
        with contextlib.suppress(ValueError):
            template = json_text.Template(_CANONICAL, sample)
    if template is None:
        return [canonical_json(row_body(row)) for row in rows]
    fill = template.fill
    return [
        fill([row["seq"], row["share_id"], *[row["details"][key] for key in varying]]).encode()
        for row in rows
    ]


_FIXED = operator.itemgetter(*(name for name in HASHED if name not in VARYING))


def _fixed(row: dict[str, Any]) -> tuple[Any, ...]:
    """The hashed fields besides `VARYING`, with their types: equal values of other types
    (``1 == True``) are spelled differently."""
    values = _FIXED(row)
    return values, tuple(map(type, values))


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return _hash(prev_hash, event_body(event))


def _hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(body)).hexdigest()


async def start_chain(session: AsyncSession, org_id: int) -> None:
    session.add(AuditHead(org_id=org_id, seq=0, hash=GENESIS))


async def record(
    session: AsyncSession,
    *,
    org_id: int,
    actor: Actor,
    action: str,
    at: datetime,
    document_id: int | None = None,
    share_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the organisation's chain, in the caller's transaction."""
    head = (
        await session.exec(select(AuditHead).where(AuditHead.org_id == org_id).with_for_update())
    ).one()
    event = AuditEvent(
        org_id=org_id,
        seq=head.seq + 1,
        at=at.astimezone(UTC),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        document_id=document_id,
        share_id=share_id,
        details=details or {},
        ip=actor.ip,
        user_agent=actor.user_agent,
        prev_hash=head.hash,
        hash="",
    )
    event.hash = chain_hash(head.hash, event)
    head.seq = event.seq
    head.hash = event.hash
    session.add(event)
    session.add(head)
    return event


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event for ``append_events``: what ``record`` is given, as data."""

    org_id: int
    actor: Actor
    action: str
    at: datetime
    document_id: int | None = None
    share_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


_HEAD_TABLE = AuditHead.__table__  # type: ignore[attr-defined]
_HEADS = (
    select(_HEAD_TABLE.c.org_id, _HEAD_TABLE.c.seq, _HEAD_TABLE.c.hash)
    .where(_HEAD_TABLE.c.org_id.in_(bindparam("org_ids", expanding=True)))
    .order_by(_HEAD_TABLE.c.org_id)
    .with_for_update()
)
_HEAD_MOVED = (
    _HEAD_TABLE.update()
    .where(_HEAD_TABLE.c.org_id == bindparam("head_org"))
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
"""Built once: building a statement costs more than running these two. Both are Core
statements: the ORM's bulk update cost more than running it. What the session holds is
flushed before the heads are read, and a head object it holds is set to the new end
after they move."""


async def append_events(session: AsyncSession, events: Sequence[NewEvent]) -> int:
    """Append ``events`` to their organisations' chains, in the given order, in the caller's
    transaction: one statement locks the chain heads concerned, one bulk insert writes the
    events. Each is hashed exactly as ``record`` would have hashed it.

    The events are built as plain rows, not model objects: a share with a group of ten
    thousand appends ten thousand events, and model construction would cost most of it.
    Returns how many were appended.
    """
    if not events:
        return 0
    # The heads are read and written as plain values, not model objects: loading and
    # flushing a head costs more than the few events a visit batch brings. A head another
    # step of this transaction changed is flushed first; a head object the session holds
    # is set to the new end after.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    rows, ends = await session.run_sync(lambda sync: _chained(sync.connection(), events))
    for org_id, (seq, end_hash) in ends.items():
        held = session.identity_map.get(identity_key(AuditHead, org_id))
        if held is not None:  # a head this transaction loaded before: keep it true
            set_committed_value(held, "seq", seq)
            set_committed_value(held, "hash", end_hash)
    await bulk.insert(session, _EVENT_TABLE, rows, encoded=_ENCODED)
    return len(rows)


def append_events_now(connection: Connection, events: Sequence[NewEvent]) -> int:
    """`append_events` on a synchronous connection in a transaction, for a step that runs
    all its statements in one ``run_sync`` (the access recorder's batches) and holds no
    chain head as an object. Returns how many were appended."""
    if not events:
        return 0
    rows, _ = _chained(connection, events)
    return bulk.insert_now(connection, _EVENT_TABLE, rows, encoded=_ENCODED)


_EVENT_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
_ENCODED = frozenset({"details"})


def _chained(
    connection: Connection, events: Sequence[NewEvent]
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, str]]]:
    """Lock the chain heads of ``events``, make their rows, hashed in order, and move
    each head to its new end; the rows (``details`` as JSON text) and each chain's end."""
    org_ids = sorted({new.org_id for new in events})
    locked = connection.execute(_HEADS, {"org_ids": org_ids})
    heads = {org_id: (seq, end) for org_id, seq, end in locked.all()}
    ends = dict(heads)
    rows: list[dict[str, Any]] = []
    # The events of one change share their time: it is converted and spelled once.
    moments: dict[datetime, datetime] = {}
    for new in events:
        if new.org_id not in ends:
            raise NotFound(f"organisation {new.org_id} has no history")
        seq, _ = ends[new.org_id]
        ends[new.org_id] = (seq + 1, "")
        if new.at not in moments:
            moments[new.at] = new.at.astimezone(UTC)
        rows.append(
            {
                "org_id": new.org_id,
                "seq": seq + 1,
                "at": moments[new.at],
                "actor_type": new.actor.type,
                "actor_id": new.actor.id,
                "actor_label": new.actor.label,
                "action": new.action,
                "document_id": new.document_id,
                "share_id": new.share_id,
                "details": new.details,
                "ip": new.actor.ip,
                "user_agent": new.actor.user_agent,
            }
        )
    chains = {org_id: end for org_id, (_, end) in heads.items()}
    details = [row["details"] for row in rows]
    for row, body in zip(rows, canonical_bodies(rows), strict=True):
        prev_hash = chains[row["org_id"]]
        row["prev_hash"] = prev_hash
        row["hash"] = chains[row["org_id"]] = hashlib.sha256(prev_hash.encode() + body).hexdigest()
        ends[row["org_id"]] = (row["seq"], row["hash"])
    for row, text in zip(rows, json_text.objects(json_text.DUMPS, details), strict=True):
        row["details"] = text
    connection.execute(
        _HEAD_MOVED,
        [
            {"head_org": org_id, "head_seq": seq, "head_hash": end_hash}
            for org_id, (seq, end_hash) in ends.items()
        ],
    )
    return rows, ends


@dataclass(frozen=True)
class ChainReport:
    """What walking a chain found. ``first_bad_seq`` is the first event that does not
    match (None when the problem is a checkpoint's, not an event's); ``expected`` and
    ``found`` are the hashes a checkpoint holds and the chain has at that event (``found``
    None when the chain ends before it)."""

    org_id: int
    events: int
    ok: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints: int = 0
    """How many checkpoints on the durable medium the chain was checked against."""
    anchored: int | None = None
    """The event the last of them covers."""
    expected: str | None = None
    found: str | None = None


async def verify_chain(env: Env, *, org_id: int, batch: int = 2000) -> ChainReport:
    """Walk the chain in order; name the first event that does not match."""
    env.require_every_client(to="verify the whole history")
    prev = GENESIS
    expected_seq = 1
    count = 0
    async with env.sessions() as session:
        head = await session.get(AuditHead, org_id)
        if head is None:
            raise NotFound(f"organisation {org_id} has no history")
        while True:
            rows = (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.org_id == org_id, AuditEvent.seq >= expected_seq)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                )
            ).all()
            for event in rows:
                problem = _check(event, expected_seq=expected_seq, prev=prev)
                if problem:
                    return ChainReport(org_id, count, False, expected_seq, problem)
                prev = event.hash
                expected_seq += 1
                count += 1
            if len(rows) < batch:
                break
        if head.seq != count or head.hash != prev:
            return ChainReport(
                org_id,
                count,
                False,
                count + 1,
                f"the chain ends at event {count} but its head says {head.seq}: "
                "events are missing from the end",
            )
    return ChainReport(org_id, count, True)


def _check(event: AuditEvent, *, expected_seq: int, prev: str) -> str | None:
    if event.seq != expected_seq:
        return f"event {expected_seq} is missing (found {event.seq} next)"
    if event.prev_hash != prev:
        return f"event {event.seq} does not follow event {event.seq - 1}"
    if chain_hash(prev, event) != event.hash:
        return f"event {event.seq} ({event.action}) was altered after it was written"
    return None


async def document_history(env: Env, *, org_id: int, document_id: int) -> Sequence[AuditEvent]:
    """Every event about a document and its other versions, oldest first."""
    async with env.sessions() as session:
        document = await session.get(Document, document_id)
        if document is None or document.org_id != org_id:
            raise NotFound(f"document {document_id} not found")
        root = document.version_of or document.id
        family = select(Document.id).where(
            Document.org_id == org_id, (Document.id == root) | (Document.version_of == root)
        )
        return (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.org_id == org_id, col(AuditEvent.document_id).in_(family))
                .order_by(col(AuditEvent.seq))
            )
        ).all()


async def hash_at(session: AsyncSession, *, org_id: int, seq: int) -> str | None:
    """The stored hash of event ``seq`` of the organisation's chain; None if there is none."""
    found = await session.exec(
        select(AuditEvent.hash).where(AuditEvent.org_id == org_id, AuditEvent.seq == seq)
    )
    return found.first()


async def chain_in_batches(
    env: Env, *, org_id: int, batch: int = 2000
) -> AsyncIterator[Sequence[AuditEvent]]:
    """The organisation's events as stored, in chain order, ``batch`` at a time."""
    env.require_every_client(to="read the whole history")
    after = 0
    while True:
        async with env.reads() as session:
            rows = (
                await session.exec(
                    select(AuditEvent)
                    .where(AuditEvent.org_id == org_id, AuditEvent.seq > after)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                )
            ).all()
        if rows:
            yield rows
            after = rows[-1].seq
        if len(rows) < batch:
            return
