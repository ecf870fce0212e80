"""The history: append-only events, hash-chained per organisation.

``hash = sha256(prev_hash || canonical_json(event))``. Appends lock the organisation's
chain head, so concurrent writers line up instead of forking the chain. ``record`` appends
one event; ``append_events`` appends many at once (the access recorder's group commits);
``append_alike`` appends the many alike events of one change, given column by column (a
share with a group).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import operator
from collections.abc import AsyncIterator, Iterable, Sequence
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
    same = _fixed(rows[0])
    if not all(_fixed(row) == same for row in rows):
        return [canonical_json(row_body(row)) for row in rows]
    details = [row["details"] for row in rows]
    return _alike_bodies(
        rows[0],
        [row["seq"] for row in rows],
        [row["share_id"] for row in rows],
        details,
        json_text.shape(details),
    )


def _alike_bodies(
    first: dict[str, Any],
    seqs: Sequence[int],
    share_ids: Sequence[int | None],
    details: Sequence[dict[str, Any]],
    varying: list[str] | None,
) -> list[bytes]:
    """`canonical_bodies` of rows like ``first`` but for the `VARYING` fields, given
    column by column; ``varying`` is the details' `json_text.shape`."""
    template = None
    if varying is not None:
        sample = row_body(first)
        sample["seq"] = json_text.Slot(0)
        sample["share_id"] = json_text.Slot(1)
        sample["details"] = {
            key: json_text.Slot(2 + varying.index(key)) if key in varying else value
            for key, value in details[0].items()
        }
        with contextlib.suppress(ValueError):
            template = json_text.Template(_CANONICAL, sample)
    if template is None or varying is None:
        return [
            canonical_json(row_body({**first, "seq": seq, "share_id": share, "details": each}))
            for seq, share, each in zip(seqs, share_ids, details, strict=True)
        ]
    texts = template.fill_many(
        len(seqs), [seqs, share_ids, *[[each[key] for each in details] for key in varying]]
    )
    return list(map(str.encode, texts))


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


@dataclass
class Chains:
    """The chains a transaction appends to, their heads locked: where each one ends, as
    ``(seq, hash)`` by organisation. Appends given them (`append_events`,
    `append_alike`) move the ends on; an event recorded otherwise meanwhile (`record`)
    would not be seen here, so take the chains just before the appends they serve."""

    ends: dict[int, tuple[int, str]]


async def lock_chains(session: AsyncSession, org_ids: Iterable[int]) -> Chains:
    """Lock the chain heads of these organisations for the rest of the transaction, and
    read where each chain ends. What the session holds is flushed first: a head another
    step of this transaction changed is read as it now is."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    wanted = sorted(set(org_ids))
    return Chains(await session.run_sync(lambda sync: _locked(sync.connection(), wanted)))


async def append_events(
    session: AsyncSession,
    events: Sequence[NewEvent],
    *,
    chains: Chains | None = None,
    writes: bulk.Writes | None = None,
) -> int:
    """Append ``events`` to their organisations' chains, in the given order, in the caller's
    transaction: one statement locks the chain heads concerned (unless ``chains`` holds
    them, locked earlier by `lock_chains`), one moves them, one bulk insert writes the
    events, handed to ``writes`` when given. Each is hashed exactly as ``record`` would have
    hashed it.

    The events are built as plain rows, not model objects: a share with a group of ten
    thousand appends ten thousand events, and model construction would cost most of it.
    Returns how many were appended.
    """
    if not events:
        return 0
    # The heads are read and written as plain values, not model objects: loading and
    # flushing a head costs more than the few events a visit batch brings. A head object
    # the session holds is set to the new end after.
    if chains is None:
        chains = await lock_chains(session, (new.org_id for new in events))
    rows, ends = _rows(events, chains.ends)
    await session.run_sync(lambda sync: _move(sync.connection(), ends))
    _moved(session, chains, ends)
    if writes is None:
        await bulk.insert(session, _EVENT_TABLE, rows, encoded=_ENCODED)
    else:
        await writes.insert(_EVENT_TABLE, rows, encoded=_ENCODED)
    return len(rows)


@dataclass(frozen=True, slots=True)
class AlikeEvents:
    """Events of one change in one organisation's chain, alike but for the share each one
    is about and the values (not the keys) of its details: what a share with a group
    appends for each of its ten thousand shares, given column by column."""

    org_id: int
    actor: Actor
    action: str
    at: datetime
    document_id: int | None
    share_ids: Sequence[int | None]
    details: Sequence[dict[str, Any]]


async def append_alike(
    session: AsyncSession, events: AlikeEvents, *, chains: Chains, writes: bulk.Writes
) -> int:
    """`append_events` for ``events`` alike, in the chains locked by `lock_chains`, their
    insert handed to ``writes``: each row is hashed exactly as `record` would hash it, but
    no event or row is built for it. Returns how many were appended."""
    count = len(events.share_ids)
    if len(events.details) != count:
        raise ValueError("give the details of each event, one for each share")
    if not count:
        return 0
    if events.org_id not in chains.ends:
        raise NotFound(f"organisation {events.org_id} has no history")
    seq, prev_hash = chains.ends[events.org_id]
    actor = events.actor
    same = {
        "org_id": events.org_id,
        "at": events.at.astimezone(UTC),
        "actor_type": actor.type,
        "actor_id": actor.id,
        "actor_label": actor.label,
        "action": events.action,
        "document_id": events.document_id,
        "ip": actor.ip,
        "user_agent": actor.user_agent,
    }
    seqs = list(range(seq + 1, seq + 1 + count))
    first = {**same, "seq": seqs[0], "share_id": events.share_ids[0], "details": events.details[0]}
    prev_hashes, hashes = [], []
    sha256 = hashlib.sha256
    # The details are spelled twice, hashed and stored: their shape is found once.
    shape = json_text.shape(events.details)
    for body in _alike_bodies(first, seqs, events.share_ids, events.details, shape):
        prev_hashes.append(prev_hash)
        prev_hash = sha256(prev_hash.encode() + body).hexdigest()
        hashes.append(prev_hash)
    ends = {events.org_id: (seqs[-1], prev_hash)}
    await writes.update(
        _HEAD_TABLE,
        key="org_id",
        rows=[{"org_id": events.org_id, "seq": seqs[-1], "hash": prev_hash}],
    )
    _moved(session, chains, ends)
    await writes.insert_columns(
        _EVENT_TABLE,
        varying={
            "seq": seqs,
            "share_id": events.share_ids,
            "details": json_text.objects(json_text.DUMPS, events.details, shape),
            "prev_hash": prev_hashes,
            "hash": hashes,
        },
        same=same,
        encoded=_ENCODED,
    )
    return count


def append_events_now(connection: Connection, events: Sequence[NewEvent]) -> int:
    """`append_events` on a synchronous connection in a transaction, for a step that runs
    all its statements in one ``run_sync`` (the access recorder's batches) and holds no
    chain head as an object. Returns how many were appended."""
    if not events:
        return 0
    rows, ends = _rows(events, _locked(connection, sorted({new.org_id for new in events})))
    _move(connection, ends)
    return bulk.insert_now(connection, _EVENT_TABLE, rows, encoded=_ENCODED)


_EVENT_TABLE = AuditEvent.__table__  # type: ignore[attr-defined]
_ENCODED = frozenset({"details"})


def _moved(session: AsyncSession, chains: Chains, ends: dict[int, tuple[int, str]]) -> None:
    """Note the chains' new ends, in ``chains`` and in any head object the session holds."""
    chains.ends.update(ends)
    for org_id, (seq, end_hash) in ends.items():
        held = session.identity_map.get(identity_key(AuditHead, org_id))
        if held is not None:  # a head this transaction loaded before: keep it true
            set_committed_value(held, "seq", seq)
            set_committed_value(held, "hash", end_hash)


def _locked(connection: Connection, org_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Lock the chain heads of these organisations; where each chain ends."""
    locked = connection.execute(_HEADS, {"org_ids": org_ids})
    return {org_id: (seq, end) for org_id, seq, end in locked.all()}


def _move(connection: Connection, ends: dict[int, tuple[int, str]]) -> None:
    """Move each chain's head to its new end."""
    connection.execute(
        _HEAD_MOVED,
        [
            {"head_org": org_id, "head_seq": seq, "head_hash": end_hash}
            for org_id, (seq, end_hash) in ends.items()
        ],
    )


def _rows(
    events: Sequence[NewEvent], heads: dict[int, tuple[int, str]]
) -> tuple[list[dict[str, Any]], dict[int, tuple[int, str]]]:
    """The rows of ``events`` appended to the chains ending at ``heads``, hashed in order
    (``details`` as JSON text), and the new end of each chain they reach."""
    ends = {}
    for org_id in {new.org_id for new in events}:
        if org_id not in heads:
            raise NotFound(f"organisation {org_id} has no history")
        ends[org_id] = heads[org_id]
    chains = {org_id: end for org_id, (_, end) in ends.items()}
    rows: list[dict[str, Any]] = []
    # The events of one change share their time: it is converted and spelled once.
    moments: dict[datetime, datetime] = {}
    for new in events:
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
    details = [row["details"] for row in rows]
    for row, body in zip(rows, canonical_bodies(rows), strict=True):
        prev_hash = chains[row["org_id"]]
        row["prev_hash"] = prev_hash
        row["hash"] = chains[row["org_id"]] = hashlib.sha256(prev_hash.encode() + body).hexdigest()
        ends[row["org_id"]] = (row["seq"], row["hash"])
    for row, text in zip(rows, json_text.objects(json_text.DUMPS, details), strict=True):
        row["details"] = text
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
