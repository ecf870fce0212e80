"""Checkpoints: each organisation's chain head, anchored outside the database.

A chain that only checks itself cannot see its end cut off: delete the last events, set
the head row to the new last hash, and every link that is left still holds. A checkpoint
is a statement of the head as it stood — the organisation, the event number and hash,
the time — written to the durable medium (write-once files; on S3, objects under
COMPLIANCE object lock for the configured retention), sealed with the organisation's
seal, the one its documents are sealed with (a detached CMS signature over the statement's
bytes) and, when a timestamp authority is configured, timestamped (an RFC 3161 token over
the same bytes). Each statement names the
one before it, and for checkpoint n a *slot* blob is written whose bytes anyone can
compute from the organisation and n: checkpoints deleted from the database are missed
because their slots are still on the medium.

`anchor_chain` writes one when the chain moved since the last (the periodic job runs it
for every organisation with `anchor_moved_chains`; completing a request runs it before
the completion certificate is made, which names it). `workflows.checkpoint_checks` checks
the chain against every checkpoint. The network client of the TSA is the caller's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.blobs import stage
from storage.errors import BlobNotFound, StorageError
from storage.models import AuditCheckpoint, AuditHead, Organization, SignatureRequest
from storage.rows import id_of
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import NotFound, Unavailable
from workflows.signing.seal_keys import BadSealKey, SealKey

FORMAT = "inkpost-audit-checkpoint/1"
SLOT_FORMAT = "inkpost-audit-checkpoint-slot/1"
ACTION = "audit.checkpoint"
INTERVAL = "interval"
COMPLETION = "completion"
CHECKPOINTER = Actor.system("checkpoints")
MAX_PART_BYTES = 1024 * 1024
"""A statement, its signature or its token is a few kilobytes; more is not one of ours."""
ATTEMPTS = 3
"""How often a checkpoint is tried again after another process recorded one first."""
T = TypeVar("T")


class CheckpointFailed(Unavailable):
    """The checkpoint could not be sealed, timestamped or written; nothing was recorded."""


@dataclass(frozen=True)
class Statement:
    """What a checkpoint says, as sealed: the bytes are ``encode()``'s, canonical JSON."""

    org_id: int
    org_slug: str
    number: int
    seq: int
    hash: str
    at: datetime
    previous: str | None
    """SHA-256 (hex) of the statement of checkpoint ``number - 1``; None for the first."""
    reason: str
    request: str | None = None
    """The request (``S-4``) whose completion it was written for."""

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "format": FORMAT,
            "organisation": {"id": self.org_id, "slug": self.org_slug},
            "number": self.number,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(timespec="microseconds"),
            "previous": self.previous,
            "reason": self.reason,
        }
        if self.request is not None:
            body["request"] = self.request
        return audit.canonical_json(body)

    @classmethod
    def decode(cls, data: bytes) -> Statement:
        """The statement ``data`` holds; ``ValueError`` saying why when it holds none."""
        try:
            body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"not JSON ({e})") from e
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} statement")
        try:
            organisation = body["organisation"]
            return cls(
                org_id=_typed(organisation["id"], int),
                org_slug=_typed(organisation["slug"], str),
                number=_typed(body["number"], int),
                seq=_typed(body["seq"], int),
                hash=_typed(body["hash"], str),
                at=datetime.fromisoformat(_typed(body["at"], str)),
                previous=None if body["previous"] is None else _typed(body["previous"], str),
                reason=_typed(body["reason"], str),
                request=None if body.get("request") is None else _typed(body["request"], str),
            )
        except (KeyError, TypeError) as e:
            raise ValueError(f"a field is missing or of the wrong type ({e})") from e


def _typed(value: object, kind: type[T]) -> T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


def slot(*, org_id: int, org_slug: str, number: int) -> bytes:
    """The bytes of the slot blob that says checkpoint ``number`` of the organisation was
    written: the same for everyone who computes them, so their key is known in advance."""
    return audit.canonical_json(
        {"format": SLOT_FORMAT, "organisation": {"id": org_id, "slug": org_slug}, "number": number}
    )


def slot_key(*, org_id: int, org_slug: str, number: int) -> str:
    return hashlib.sha256(slot(org_id=org_id, org_slug=org_slug, number=number)).hexdigest()


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """The checkpoint that covers a chain, and whether it was written just now."""

    checkpoint: AuditCheckpoint
    written: bool


async def anchor_chain(
    env: Env,
    *,
    org_id: int,
    seal: SealKey,
    timestamper: TimeStamper | None = None,
    reason: str = INTERVAL,
    request_id: int | None = None,
) -> Anchor | None:
    """The checkpoint covering every event of the organisation's chain so far: the last
    one when nothing but its own event came after it, else a new one written now. None
    for a chain without events. Raises ``CheckpointFailed`` when sealing, timestamping or
    writing to the medium fails."""
    env.require_every_client(to="anchor the history")
    for _ in range(ATTEMPTS):
        try:
            return await _anchor_once(
                env,
                org_id=org_id,
                seal=seal,
                timestamper=timestamper,
                reason=reason,
                request_id=request_id,
            )
        except _Overtaken:
            continue
    raise CheckpointFailed(
        f"other processes kept writing checkpoints of organisation {org_id} meanwhile; try again"
    )


class _Overtaken(Exception):
    """Another process recorded the checkpoint of this number, for an older head."""


async def _anchor_once(
    env: Env,
    *,
    org_id: int,
    seal: SealKey,
    timestamper: TimeStamper | None,
    reason: str,
    request_id: int | None,
) -> Anchor | None:
    async with env.reads() as session:
        organization = await session.get(Organization, org_id)
        head = await session.get(AuditHead, org_id)
        if organization is None or head is None:
            raise NotFound(f"organisation {org_id} has no history")
        last = await _last(session, org_id)
        request = await session.get(SignatureRequest, request_id) if request_id else None
    if last is not None and _covers(last, head.seq):
        return Anchor(last, written=False)
    if head.seq == 0:
        return None
    statement = Statement(
        org_id=org_id,
        org_slug=organization.slug,
        number=last.number + 1 if last is not None else 1,
        seq=head.seq,
        hash=head.hash,
        at=env.clock.now(),
        previous=last.statement_key if last is not None else None,
        reason=reason,
        request=request.ref if request is not None else None,
    )
    data = statement.encode()
    signature = await _seal(await _own_seal(env, seal, organization), data)
    token = await _timestamp(timestamper, data) if timestamper is not None else None
    keys = [await _put(env, part) for part in (data, signature)]
    token_key = await _put(env, token) if token is not None else None
    # The slot goes first: a checkpoint recorded below always has its slot on the medium.
    await _put(env, slot(org_id=org_id, org_slug=organization.slug, number=statement.number))
    return await _record(
        env,
        statement,
        statement_key=keys[0],
        signature_key=keys[1],
        timestamp_key=token_key,
        request_id=request_id,
    )


def _covers(checkpoint: AuditCheckpoint, head_seq: int) -> bool:
    """Whether ``checkpoint`` covers every event up to ``head_seq`` but its own record."""
    return checkpoint.event_seq == checkpoint.seq + 1 and head_seq <= checkpoint.event_seq


async def _last(session: AsyncSession, org_id: int) -> AuditCheckpoint | None:
    found = await session.exec(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.org_id == org_id)
        .order_by(col(AuditCheckpoint.number).desc())
        .limit(1)
    )
    return found.first()


async def _record(
    env: Env,
    statement: Statement,
    *,
    statement_key: str,
    signature_key: str,
    timestamp_key: str | None,
    request_id: int | None,
) -> Anchor:
    """Record the checkpoint and its event, unless another process recorded this number
    meanwhile: its checkpoint then counts when it covers this head too, and else this one
    is written again as the next (``_Overtaken``)."""
    async with env.sessions() as session, session.begin():
        await session.exec(
            select(AuditHead).where(AuditHead.org_id == statement.org_id).with_for_update()
        )
        latest = await _last(session, statement.org_id)
        if latest is not None and latest.number >= statement.number:
            if latest.seq < statement.seq:
                raise _Overtaken()
            return Anchor(latest, written=False)
        details: dict[str, Any] = {
            "number": statement.number,
            "seq": statement.seq,
            "hash": statement.hash,
            "statement": statement_key,
            "timestamped": timestamp_key is not None,
            "reason": statement.reason,
        }
        if statement.request is not None:
            details["request"] = statement.request
        event = await audit.record(
            session,
            org_id=statement.org_id,
            actor=CHECKPOINTER,
            action=ACTION,
            at=statement.at,
            details=details,
        )
        checkpoint = AuditCheckpoint(
            org_id=statement.org_id,
            number=statement.number,
            seq=statement.seq,
            hash=statement.hash,
            at=statement.at,
            reason=statement.reason,
            request_id=request_id,
            statement_key=statement_key,
            signature_key=signature_key,
            timestamp_key=timestamp_key,
            event_seq=event.seq,
        )
        session.add(checkpoint)
    return Anchor(checkpoint, written=True)


async def _own_seal(env: Env, seal: SealKey, organization: Organization) -> SealKey:
    """The organisation's own seal, as its documents are sealed with."""
    try:
        return await asyncio.to_thread(
            seal.for_organisation, id_of(organization), organization.name, now=env.clock.now()
        )
    except BadSealKey as e:
        raise CheckpointFailed(f"the organisation's seal could not be loaded: {e}") from e


async def _seal(seal: SealKey, data: bytes) -> bytes:
    try:
        signed = await seal.signer.async_sign_general_data(data, "sha256", detached=True)
    except (SigningError, ValueError) as e:
        raise CheckpointFailed(f"the seal could not sign the checkpoint: {e}") from e
    return bytes(signed.dump())


async def _timestamp(timestamper: TimeStamper, data: bytes) -> bytes:
    try:
        token = await timestamper.async_timestamp(hashlib.sha256(data).digest(), "sha256")
    except (TimestampRequestError, OSError, ValueError) as e:
        authority = getattr(timestamper, "url", None) or type(timestamper).__name__
        raise CheckpointFailed(
            f"the timestamp authority {authority} did not timestamp the checkpoint: {_innermost(e)}"
        ) from e
    return bytes(token.dump())


def _innermost(error: BaseException) -> str:
    """The message of the deepest cause that has one (the HTTP status, the refused
    connection), rather than the wrapper's."""
    said = str(error) or type(error).__name__
    current = error.__cause__ or error.__context__
    depth = 0
    while current is not None and depth < 8:
        said = str(current) or said
        current, depth = current.__cause__ or current.__context__, depth + 1
    return said


async def _put(env: Env, data: bytes) -> str:
    async def once() -> AsyncIterator[bytes]:
        yield data

    try:
        staged = await stage(once(), staging_dir=env.blobs.staging_dir, max_bytes=MAX_PART_BYTES)
        try:
            return await env.blobs.commit(staged)
        finally:
            staged.discard()
    except StorageError as e:
        raise CheckpointFailed(f"the checkpoint could not be written to the medium: {e}") from e


@dataclass
class AnchorReport:
    """What one run over every organisation did."""

    written: list[AuditCheckpoint] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Organisation slug -> why its checkpoint could not be written."""


async def anchor_moved_chains(
    env: Env, *, seal: SealKey, timestamper: TimeStamper | None = None
) -> AnchorReport:
    """A checkpoint for every organisation whose chain moved since its last one. One
    organisation's failure does not keep the others from theirs."""
    env.require_every_client(to="anchor the history")
    async with env.reads() as session:
        organizations = (
            await session.exec(select(Organization).order_by(col(Organization.id)))
        ).all()
    report = AnchorReport()
    for organization in organizations:
        try:
            anchor = await anchor_chain(
                env, org_id=id_of(organization), seal=seal, timestamper=timestamper
            )
        except (CheckpointFailed, NotFound) as e:
            report.failed[organization.slug] = str(e)
            continue
        if anchor is not None and anchor.written:
            report.written.append(anchor.checkpoint)
    return report


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint's parts as the medium gives them back."""

    row: AuditCheckpoint
    statement: bytes
    signature: bytes
    timestamp: bytes | None


async def list_checkpoints(env: Env, *, org_id: int) -> Sequence[AuditCheckpoint]:
    """The organisation's checkpoints as the database records them, oldest first."""
    env.require_every_client(to="read the history's checkpoints")
    async with env.reads() as session:
        return (
            await session.exec(
                select(AuditCheckpoint)
                .where(AuditCheckpoint.org_id == org_id)
                .order_by(col(AuditCheckpoint.number))
            )
        ).all()


async def read_checkpoint(env: Env, checkpoint: AuditCheckpoint) -> StoredCheckpoint:
    """The statement, signature and token of ``checkpoint`` from the medium; a blob that
    is not there raises ``BlobNotFound``."""
    token = None
    if checkpoint.timestamp_key is not None:
        token = await _get(env, checkpoint.timestamp_key)
    return StoredCheckpoint(
        row=checkpoint,
        statement=await _get(env, checkpoint.statement_key),
        signature=await _get(env, checkpoint.signature_key),
        timestamp=token,
    )


async def _get(env: Env, key: str) -> bytes:
    if await env.blobs.size(key) > MAX_PART_BYTES:
        raise BlobNotFound(key)
    return b"".join([chunk async for chunk in env.blobs.read(key)])


def certificates_of(signed: bytes) -> list[asn1_x509.Certificate]:
    """The certificates a CMS signature or timestamp token carries."""
    content = cms.ContentInfo.load(signed)["content"]
    return [
        choice.chosen
        for choice in content["certificates"] or ()
        if isinstance(choice.chosen, asn1_x509.Certificate)
    ]
