"""Idempotent requests of the integration API: the first answer to a request sent with an
``Idempotency-Key`` is kept, and a retry with the same key gets that answer again and
changes nothing. The same key with another request is refused."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from storage.models import IdempotencyRecord
from workflows.context import Env
from workflows.errors import InvalidInput

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


@dataclass(frozen=True)
class Kept:
    fingerprint: str
    answer: Answer

    def for_request(self, request_fingerprint: str) -> Answer:
        """The kept answer, if the retry is the same request; InvalidInput otherwise."""
        if self.fingerprint != request_fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was already used for a different request; "
                "use a new key for a new request"
            )
        return self.answer


async def kept_answer(env: Env, *, key_id: int, idempotency_key: str) -> Kept | None:
    """What was answered to the first request with this key, if it is not too old."""
    hashed = _hash_key(idempotency_key)
    since = env.clock.now() - KEEP_FOR
    async with env.reads() as session:
        row = (
            await session.exec(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.key_id == key_id,
                    IdempotencyRecord.idempotency_hash == hashed,
                    col(IdempotencyRecord.created_at) >= since,
                )
            )
        ).first()
    if row is None:
        return None
    return Kept(
        fingerprint=row.fingerprint,
        answer=Answer(status=row.status, content_type=row.content_type, body=row.body),
    )


async def keep_answer(
    env: Env,
    *,
    org_id: int,
    key_id: int,
    idempotency_key: str,
    request_fingerprint: str,
    answer: Answer,
) -> None:
    """Keep the first answer; the API key's answers older than `KEEP_FOR` go, so what is
    kept stays bounded. A concurrent first request that kept its answer already wins."""
    hashed = _hash_key(idempotency_key)
    now = env.clock.now()
    try:
        async with env.sessions() as session, session.begin():
            await session.exec(
                delete(IdempotencyRecord).where(
                    col(IdempotencyRecord.key_id) == key_id,
                    col(IdempotencyRecord.created_at) < now - KEEP_FOR,
                )
            )
            session.add(
                IdempotencyRecord(
                    org_id=org_id,
                    key_id=key_id,
                    idempotency_hash=hashed,
                    fingerprint=request_fingerprint,
                    status=answer.status,
                    content_type=answer.content_type,
                    body=answer.body,
                    created_at=now,
                )
            )
    except IntegrityError:
        return
