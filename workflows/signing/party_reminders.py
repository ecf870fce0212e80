"""Reminding parties who have not decided: on their request's cadence, or now, at staff's
asking.

A party invited to decide gets ``next_reminder_at`` (their invitation plus the request's
``remind_every_days``). The scan takes the parties whose moment has come, through that
column's index, and moves each party's reminder state on in the same transaction as the
outbox row (dedupe key ``remind:{party}:{n}``, ``n`` counted from that state): two scans
at once, on one store, queue each reminder once, and a crash keeps both or neither. On
PostgreSQL a scan skips the parties another scan has locked.
After a stop longer than the cadence the party gets the one reminder that is due, not a
burst of the ones missed. Reminders wait for the end of quiet hours; delivery checks
again, and drops a reminder to a party who decided meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Organization, Party, PartyDecision, SignatureRequest
from storage.rows import id_of
from workflows import outbox, quiet_hours
from workflows.context import Actor, Env
from workflows.errors import Conflict, NotFound
from workflows.outbox.kinds import Kind
from workflows.signing import requests

MIN_GAP = timedelta(hours=1)
"""The least time between two reminders to one party, whoever asks for them."""
BATCH = 2000


@dataclass(frozen=True)
class Reminded:
    """A reminder queued for a party, and when it may go out (later in quiet hours)."""

    party: Party
    send_at: datetime


def reminder_key(party_id: int, number: int) -> str:
    return f"remind:{party_id}:{number}"


async def scan(env: Env, *, at: datetime) -> int:
    """Queue the reminders due at ``at``; returns how many were queued."""
    queued = 0
    after: tuple[datetime, int] | None = None
    while True:
        async with env.sessions() as session, session.begin():
            found, after = await _due_batch(session, at, after)
        queued += found
        if after is None:
            return queued


async def _due_batch(
    session: AsyncSession, at: datetime, after: tuple[datetime, int] | None
) -> tuple[int, tuple[datetime, int] | None]:
    """One batch of due parties, from just past ``after`` (a party left waiting keeps its
    place): the reminders queued, and where the next batch starts (None: no more)."""
    query = (
        select(Party, SignatureRequest, Organization)
        .join(SignatureRequest, col(SignatureRequest.id) == Party.request_id)
        .join(Organization, col(Organization.id) == Party.org_id)
        .where(col(Party.next_reminder_at) <= at)
        .order_by(col(Party.next_reminder_at), col(Party.id))
        .limit(BATCH)
    )
    if after is not None:
        last_at, last_id = after
        query = query.where(
            or_(
                col(Party.next_reminder_at) > last_at,
                and_(col(Party.next_reminder_at) == last_at, col(Party.id) > last_id),
            )
        )
    if session.get_bind().dialect.name == "postgresql":
        # Another scheduler's scan holding these parties queues their reminders itself.
        query = query.with_for_update(of=Party, skip_locked=True)
    rows = (await session.exec(query)).all()
    decided = await _decided(session, [p.id for p, _, _ in rows if p.id is not None])
    moves: list[dict[str, object]] = []
    notes: list[outbox.NewNotification] = []
    for party, request, organization in rows:
        move, note = _advance(party, request, organization, at, decided)
        if move is not None:
            moves.append(move)
        if note is not None:
            notes.append(note)
    await _move_on(session, moves)
    queued = await outbox.enqueue_many(session, notes, at=at)
    if len(rows) < BATCH:
        return queued, None
    last = rows[-1][0]
    assert last.next_reminder_at is not None
    return queued, (last.next_reminder_at, id_of(last))


def _advance(
    party: Party,
    request: SignatureRequest,
    organization: Organization,
    at: datetime,
    decided: set[int],
) -> tuple[dict[str, object] | None, outbox.NewNotification | None]:
    """A due party's new reminder state (None: unchanged for now) and the reminder to
    queue, if one is. The reminder's number comes from the state read, so two scans that
    read the same state queue the same dedupe key, which the outbox takes once."""
    party_id = id_of(party)
    state: dict[str, object] = {
        "party": party_id,
        "sent": party.reminders_sent,
        "reminded": party.reminded_at,
        "next": None,
    }
    number = party.reminders_sent + 1
    ended = request.status != requests.PENDING or (
        request.expires_at is not None and request.expires_at <= at
    )
    note = (
        None
        if ended
        else requests.party_notice(request, party, kind=Kind.SIGN_REMINDER, key="remind")
    )
    if party_id in decided or note is None or number > request.reminders_max:
        return state, None
    if party.reminded_at is not None and at - party.reminded_at < MIN_GAP:
        return None, None  # staff reminded them a moment ago; this one waits for the gap
    send_at = quiet_hours.send_from(organization, at)
    following = (
        send_at + timedelta(days=request.remind_every_days)
        if number < request.reminders_max
        else None
    )
    state.update(sent=number, reminded=send_at, next=following)
    return state, replace(note, dedupe_key=reminder_key(party_id, number), due=send_at)


async def _move_on(session: AsyncSession, moves: list[dict[str, object]]) -> None:
    """Write every party's new reminder state with one statement, run for each."""
    if not moves:
        return
    table = Party.__table__  # type: ignore[attr-defined]
    statement = (
        table.update()
        .where(table.c.id == bindparam("party"))
        .values(
            reminders_sent=bindparam("sent"),
            reminded_at=bindparam("reminded"),
            next_reminder_at=bindparam("next"),
        )
    )
    connection = await session.connection()
    await connection.execute(statement, moves)


async def _decided(session: AsyncSession, party_ids: list[int]) -> set[int]:
    if not party_ids:
        return set()
    rows = await session.exec(
        select(PartyDecision.party_id).where(col(PartyDecision.party_id).in_(party_ids))
    )
    return set(rows.all())


# -- "Remind now" -------------------------------------------------------------------------


async def remind_now(
    env: Env, *, org_id: int, actor: Actor, ref: str, position: int | None = None
) -> list[Reminded]:
    """Remind party number ``position`` of a pending request now, or every party still
    to decide when no number is given.

    Refused (and nothing changes) for a party who decided, is not yet invited, has no way
    to be reached but their link, or was reminded less than an hour ago; without a number,
    refused only when no party can be reminded.
    """
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        request = await _pending_request(session, org_id, ref, now)
        organization = await session.get(Organization, org_id)
        assert organization is not None
        request_id = id_of(request)
        parties = list(
            (
                await session.exec(
                    select(Party)
                    .where(Party.request_id == request_id)
                    .order_by(col(Party.position))
                    .with_for_update()
                )
            ).all()
        )
        decisions = {
            d.party_id: d
            for d in (
                await session.exec(
                    select(PartyDecision).where(PartyDecision.request_id == request_id)
                )
            ).all()
        }
        chosen = _chosen(request, parties, position)
        refusals = {p.id: _refusal(request, p, decisions.get(p.id or 0), now) for p in chosen}
        ready = [p for p in chosen if refusals[p.id] is None]
        if not ready:
            reasons = [r for r in refusals.values() if r]
            raise Conflict("; ".join(reasons) if reasons else "nobody is waiting to decide")
        send_at = quiet_hours.send_from(organization, now)
        notes = []
        for party in ready:
            note = requests.party_notice(request, party, kind=Kind.SIGN_REMINDER, key="remind")
            assert note is not None
            stamp = f"{now:%Y%m%dT%H%M%S}"
            notes.append(
                replace(note, dedupe_key=f"remind:{id_of(party)}:now:{stamp}", due=send_at)
            )
            party.reminded_at = send_at
            if party.next_reminder_at is not None:
                restart = send_at + timedelta(days=request.remind_every_days)
                party.next_reminder_at = max(party.next_reminder_at, restart)
            session.add(party)
        await outbox.enqueue_many(session, notes, at=now)
        await requests.record_all(
            session,
            request,
            actor=actor,
            action="signature.reminded",
            at=now,
            details={"parties": [p.name for p in ready], "send_at": send_at.isoformat()},
        )
    return [Reminded(party, send_at) for party in ready]


async def _pending_request(
    session: AsyncSession, org_id: int, ref: str, now: datetime
) -> SignatureRequest:
    request = await requests.locked_by_ref(session, org_id, ref)
    if request.status != requests.PENDING:
        raise Conflict(
            f"{request.ref} is {request.status}; only a pending request's parties can be reminded"
        )
    if request.expires_at is not None and request.expires_at <= now:
        raise Conflict(f"{request.ref} has expired; nobody can decide on it any more")
    return request


def _chosen(request: SignatureRequest, parties: list[Party], position: int | None) -> list[Party]:
    if position is None:
        return [p for p in parties if p.role in requests.DECIDING]
    for party in parties:
        if party.position == position:
            return [party]
    raise NotFound(f"{request.ref} has no party {position}")


def _refusal(
    request: SignatureRequest, party: Party, decision: PartyDecision | None, now: datetime
) -> str | None:
    """Why ``party`` cannot be reminded now, or None."""
    if party.role not in requests.DECIDING:
        return f"{party.name} only receives the documents; there is nothing to remind them of"
    if decision is not None:
        return f"{party.name} has already {decision.decision}"
    if party.invited_at is None:
        return f"it is not {party.name}'s turn yet"
    if requests.party_notice(request, party, kind=Kind.SIGN_REMINDER, key="remind") is None:
        return (
            f"{party.name} can only be reached through their link "
            f"(`inkpost sign-request link {request.ref} --party {party.position}`)"
        )
    if party.reminded_at is not None:
        if party.reminded_at > now:
            return f"{party.name} will be reminded at {party.reminded_at:%Y-%m-%d %H:%M} UTC"
        if now - party.reminded_at < MIN_GAP:
            minutes = int((now - party.reminded_at).total_seconds() // 60)
            ago = f"{minutes} min ago" if minutes else "less than a minute ago"
            again = party.reminded_at + MIN_GAP
            return f"{party.name} was reminded {ago}; remind them again from {again:%H:%M} UTC"
    return None
