"""Idempotent requests of the integration API: the first answer to a request sent with an
``Idempotency-Key`` is kept, and a retry with the same key gets that answer again and
changes nothing. The same key with another request is refused, and so is a retry while
the first request is still being answered: the key is reserved before the request runs,
so two requests with one key never both run."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import IdempotencyRecord
from workflows.context import Env
from workflows.errors import InvalidInput, Unavailable

KEEP_FOR = timedelta(hours=24)
"""How long a first answer is kept; a retry later than this is a new request."""
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


def fingerprint(*, method: str, path: str, body_sha256: str) -> str:
    """What a retry must repeat to be the same request."""
    return hashlib.sha256(f"{method}\n{path}\n{body_sha256}".encode()).hexdigest()


def _hash_key(idempotency_key: str) -> str:
    if not idempotency_key.strip() or len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidInput(f"an Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters")
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


PENDING = 0
"""The status of a key's record while its first request is being answered (no HTTP answer
has status 0)."""
IN_FLIGHT_FOR = timedelta(minutes=10)
"""How long a first request holds its key without an answer kept: a retry after that runs
anew (the process answering the first request must have died)."""


@dataclass(frozen=True)
class Kept:
    """What a key's first request left: its answer, or None while it is being answered."""

    fingerprint: str
    answer: Answer | None

    def for_request(self, request_fingerprint: str) -> Answer | None:
        """The kept answer (None while the first request is still being answered), if the
        retry is the same request; InvalidInput otherwise."""
        if self.fingerprint != request_fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new request"
            )
        return self.answer


async def reserve(
    env: Env, *, org_id: int, key_id: int, idempotency_key: str, request_fingerprint: str
) -> Kept | None:
    """Take the key for this request: None when it is now this request's (answer it, then
    `keep_answer`, or `release` the key when no answer is to be kept); else what the
    key's first request left, its answer or, while it is still being answered, none.

    Two requests with one key at once cannot both run: the key's record is unique, so
    the second to write its reservation finds the first's. A reservation left without an
    answer for `IN_FLIGHT_FOR` is taken over."""
    hashed = _hash_key(idempotency_key)
    for _ in range(3):  # a reservation lost in a race, or one taken over, is read again
        now = env.clock.now()
        row = await _record(env, key_id=key_id, hashed=hashed, since=now - KEEP_FOR)
        if row is not None:
            if row.status != PENDING or row.created_at > now - IN_FLIGHT_FOR:
                answer = None if row.status == PENDING else _answer(row)
                return Kept(fingerprint=row.fingerprint, answer=answer)
            # Only the stale one: another retry may have taken the key over just now.
            await _forget(env, key_id=key_id, hashed=hashed, made_by=now - IN_FLIGHT_FOR)
        try:
            async with env.sessions() as session, session.begin():
                await _forget_old(session, key_id=key_id, now=now)
                session.add(
                    IdempotencyRecord(
                        org_id=org_id,
                        key_id=key_id,
                        idempotency_hash=hashed,
                        fingerprint=request_fingerprint,
                        status=PENDING,
                        content_type="",
                        body="",
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            continue
    raise Unavailable("this Idempotency-Key is being used by other requests; try again")


async def keep_answer(
    env: Env, *, key_id: int, idempotency_key: str, request_fingerprint: str, answer: Answer
) -> None:
    """Keep the first answer in the key's reservation: a retry gets it from now on. The
    fingerprint is the request's whole (an upload's file is known only once it is read)."""
    hashed = _hash_key(idempotency_key)
    async with env.sessions() as session, session.begin():
        await session.exec(
            update(IdempotencyRecord)
            .where(
                col(IdempotencyRecord.key_id) == key_id,
                col(IdempotencyRecord.idempotency_hash) == hashed,
                col(IdempotencyRecord.status) == PENDING,
            )
            .values(
                fingerprint=request_fingerprint,
                status=answer.status,
                content_type=answer.content_type,
                body=answer.body,
            )
        )


async def release(env: Env, *, key_id: int, idempotency_key: str) -> None:
    """Let the key go without an answer kept (the request failed): a retry runs anew."""
    await _forget(env, key_id=key_id, hashed=_hash_key(idempotency_key))


async def _record(
    env: Env, *, key_id: int, hashed: str, since: datetime
) -> IdempotencyRecord | None:
    async with env.reads() as session:
        found = await session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.key_id == key_id,
                IdempotencyRecord.idempotency_hash == hashed,
                col(IdempotencyRecord.created_at) >= since,
            )
        )
        return found.first()


def _answer(row: IdempotencyRecord) -> Answer:
    return Answer(status=row.status, content_type=row.content_type, body=row.body)


async def _forget(env: Env, *, key_id: int, hashed: str, made_by: datetime | None = None) -> None:
    """Delete the key's reservation (one made by ``made_by`` only, when given); a kept
    answer stays."""
    query = delete(IdempotencyRecord).where(
        col(IdempotencyRecord.key_id) == key_id,
        col(IdempotencyRecord.idempotency_hash) == hashed,
        col(IdempotencyRecord.status) == PENDING,
    )
    if made_by is not None:
        query = query.where(col(IdempotencyRecord.created_at) <= made_by)
    async with env.sessions() as session, session.begin():
        await session.exec(query)


async def _forget_old(session: AsyncSession, *, key_id: int, now: datetime) -> None:
    """The key's records older than `KEEP_FOR` go, so what is kept stays bounded."""
    await session.exec(
        delete(IdempotencyRecord).where(
            col(IdempotencyRecord.key_id) == key_id,
            col(IdempotencyRecord.created_at) < now - KEEP_FOR,
        )
    )
