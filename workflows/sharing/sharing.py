"""Sharing documents with recipients, groups and spaces, and by public link; revoking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Row, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import bulk
from storage.models import Document, Group, GroupMember, Recipient, Share, Space, SpaceMember
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotFound
from workflows.outbox.kinds import Channel, SharePayload
from workflows.people.recipients import MemberRow, can_receive, group_member_rows
from workflows.scope import clean_text, get_scoped
from workflows.tokens import new_token

SHARES = Share.__table__  # type: ignore[attr-defined]
IN_LIST = 500
"""Ids sent in one IN list; past this, a query reads the document's rows whole."""


class ShareResult:
    """A share made (or found) for someone, with its raw token when it was just made: the
    token is handed out once; only its hash is kept."""

    def __init__(
        self, share: Share | dict[str, Any], token: str | None, created: bool = True
    ) -> None:
        self._share = share
        self.token = token
        self.created = created

    @cached_property
    def share(self) -> Share:
        """The share; one written as a plain row becomes a model only when asked for, as
        a group of ten thousand would otherwise spend much of its time building them."""
        if isinstance(self._share, Share):
            return self._share
        return Share.model_construct(**self._share)


@dataclass(frozen=True)
class GroupShareResult:
    shares: list[ShareResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SpaceShareResult:
    share: ShareResult
    notified: int
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShareTerms:
    """What staff may say about any share."""

    expires_at: datetime | None = None
    message: str | None = None
    staff_id: int | None = None


def _check_terms(terms: ShareTerms, now: datetime) -> str | None:
    if terms.expires_at is not None:
        if terms.expires_at.tzinfo is None:
            raise InvalidInput("the expiry needs a time zone")
        if terms.expires_at <= now:
            raise InvalidInput("the expiry must be in the future")
    return clean_text(terms.message, what="message", max_len=2000, required=False, multiline=True)


async def share_with_recipient(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    recipient_id: int,
    terms: ShareTerms | None = None,
) -> ShareResult:
    terms = terms or ShareTerms()
    now = env.clock.now()
    message = _check_terms(terms, now)
    async with env.sessions() as session, session.begin():
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        recipient = await get_scoped(
            session, Recipient, org_id=org_id, id=recipient_id, what="recipient"
        )
        refusal = can_receive(recipient, now)
        if refusal:
            raise NotAllowed(f"cannot share: {refusal}")
        person = MemberRow(
            id_of(recipient), recipient.name, recipient.status, recipient.access_expires_at
        )
        shared = await _share_with_each(
            session,
            actor=actor,
            document=document,
            recipients=[person],
            group_id=None,
            terms=terms,
            message=message,
            now=now,
        )
        return shared[0]


async def share_with_group(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    group_id: int,
    terms: ShareTerms | None = None,
) -> GroupShareResult:
    """Share with every member who may receive documents; name those skipped and why."""
    terms = terms or ShareTerms()
    now = env.clock.now()
    message = _check_terms(terms, now)
    result = GroupShareResult()
    async with env.sessions() as session, session.begin():
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        group = await get_scoped(session, Group, org_id=org_id, id=group_id, what="group")
        members = await group_member_rows(session, org_id=org_id, group_id=group_id)
        if not members:
            raise InvalidInput(f"group {group.name} has no members")
        eligible = []
        for recipient in members:
            refusal = can_receive(recipient, now)
            if refusal:
                result.skipped.append(refusal)
            else:
                eligible.append(recipient)
        shared = await _share_with_each(
            session,
            actor=actor,
            document=document,
            recipients=eligible,
            group_id=group_id,
            terms=terms,
            message=message,
            now=now,
        )
        result.shares.extend(shared)
    return result


async def _share_with_each(
    session: AsyncSession,
    *,
    actor: Actor,
    document: Document,
    recipients: Sequence[MemberRow],
    group_id: int | None,
    terms: ShareTerms,
    message: str | None,
    now: datetime,
) -> list[ShareResult]:
    """A direct share of ``document`` for each of ``recipients`` (who may all receive it),
    in the caller's transaction: the live share someone already has, or a new one with its
    history event and, unless they hold the document through a space, a notice.

    Shares, events and notices are written as plain rows in one bulk insert each: a group
    may hold ten thousand people, and model objects would cost most of the time."""
    org_id, document_id = document.org_id, id_of(document)
    held = await _active_direct_shares(session, document, [r.id for r in recipients], now)
    results: list[ShareResult] = []
    fresh: list[tuple[MemberRow, dict[str, Any], str]] = []
    for recipient in recipients:
        existing = held.get(recipient.id)
        if existing is not None:
            results.append(ShareResult(existing, None, created=False))
            continue
        token, token_hash = new_token()
        row = {
            "org_id": org_id,
            "document_id": document_id,
            "kind": "recipient",
            "recipient_id": recipient.id,
            "group_id": group_id,
            "token_hash": token_hash,
            "message": message,
            "created_by_staff_id": terms.staff_id,
            "created_at": now,
            "expires_at": terms.expires_at,
        }
        fresh.append((recipient, row, token))
    await _insert_share_rows(session, [row for _, row, _ in fresh])
    await audit.append_events(
        session,
        [
            audit.NewEvent(
                org_id=org_id,
                actor=actor,
                action="document.shared",
                at=now,
                document_id=document_id,
                share_id=row["id"],
                details={
                    "recipient_id": recipient.id,
                    "recipient": recipient.name,
                    "group_id": group_id,
                    "expires_at": _iso(terms.expires_at),
                },
            )
            for recipient, row, _ in fresh
        ],
    )
    holders = await _holders_elsewhere(session, document, [r.id for r, _, _ in fresh], now)
    await outbox.enqueue_many(
        session,
        [
            _shared_notice(org_id, row["id"], document_id, recipient.id)
            for recipient, row, _ in fresh
            if recipient.id not in holders
        ],
        at=now,
    )
    results.extend(ShareResult(row, token) for _, row, token in fresh)
    return results


async def _insert_share_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert many shares at once, each with a fresh id put into its row."""
    for row, share_id in zip(rows, await bulk.reserve_ids(session, SHARES, len(rows)), strict=True):
        row["id"] = share_id
    await bulk.insert(session, SHARES, rows)


async def _active_direct_shares(
    session: AsyncSession, document: Document, recipient_ids: list[int], now: datetime
) -> dict[int, dict[str, Any]]:
    """The live direct share of ``document`` each of these recipients already has, as a
    plain row: sharing again with a group of ten thousand reads them all, and models would
    cost most of that.

    For many recipients the document's shares are read whole and filtered here: one
    plain query instead of a long IN list compiled and sent chunk by chunk."""
    wanted = set(recipient_ids)
    query = select(SHARES).where(
        SHARES.c.org_id == document.org_id,
        SHARES.c.document_id == document.id,
        SHARES.c.kind == "recipient",
        SHARES.c.revoked_at.is_(None),
    )
    if len(recipient_ids) <= IN_LIST:
        query = query.where(SHARES.c.recipient_id.in_(recipient_ids))
    held: dict[int, dict[str, Any]] = {}
    connection = await session.connection()
    for share in (await connection.execute(query)).all():
        rid = share.recipient_id
        if rid is not None and rid in wanted and _active(share, now):
            held[rid] = share._asdict()
    return held


async def _holders_elsewhere(
    session: AsyncSession,
    document: Document,
    recipient_ids: list[int],
    now: datetime,
    *,
    besides: int | None = None,
) -> set[int]:
    """Which of these recipients hold ``document`` through one of its spaces, by a share
    still in force other than ``besides``."""
    if not recipient_ids:
        return set()
    query = (
        select(SpaceMember.recipient_id)
        .join(Share, col(Share.space_id) == SpaceMember.space_id)
        .where(
            Share.org_id == document.org_id,
            Share.document_id == document.id,
            col(Share.revoked_at).is_(None),
            or_(col(Share.expires_at).is_(None), col(Share.expires_at) > now),
        )
    )
    if besides is not None:
        query = query.where(Share.id != besides)
    if len(recipient_ids) <= IN_LIST:
        query = query.where(col(SpaceMember.recipient_id).in_(recipient_ids))
    return set((await session.exec(query)).all()) & set(recipient_ids)


def _shared_notice(
    org_id: int, share_id: int, document_id: int, recipient_id: int
) -> outbox.NewNotification:
    return outbox.NewNotification(
        org_id=org_id,
        channel=Channel.RECIPIENT,
        target=str(recipient_id),
        payload=SharePayload(share_id=share_id, document_id=document_id),
        dedupe_key=f"share:{share_id}:recipient:{recipient_id}",
    )


async def share_with_space(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    space_id: int,
    terms: ShareTerms | None = None,
) -> SpaceShareResult:
    """One share for the space; each member who may receive documents is notified."""
    terms = terms or ShareTerms()
    now = env.clock.now()
    message = _check_terms(terms, now)
    async with env.sessions() as session, session.begin():
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
        existing = (
            await session.exec(
                select(Share).where(
                    Share.org_id == org_id,
                    Share.document_id == document_id,
                    Share.space_id == space_id,
                    col(Share.revoked_at).is_(None),
                )
            )
        ).first()
        if existing is not None and _active(existing, now):
            raise Conflict(f"{document.ref} is already shared with space {space.name}")
        token, token_hash = new_token()
        share = Share(
            org_id=org_id,
            document_id=document_id,
            kind="space",
            space_id=space_id,
            token_hash=token_hash,
            message=message,
            created_by_staff_id=terms.staff_id,
            created_at=now,
            expires_at=terms.expires_at,
        )
        session.add(share)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="document.shared",
            at=now,
            document_id=document_id,
            share_id=share.id,
            details={
                "space_id": space_id,
                "space": space.name,
                "expires_at": _iso(terms.expires_at),
            },
        )
        members = (
            await session.exec(
                select(Recipient)
                .join(SpaceMember, col(SpaceMember.recipient_id) == Recipient.id)
                .where(SpaceMember.space_id == space_id)
                .order_by(col(Recipient.id))
            )
        ).all()
        skipped: list[str] = []
        told: list[int] = []
        for recipient in members:
            refusal = can_receive(recipient, now)
            if refusal:
                skipped.append(refusal)
            else:
                told.append(id_of(recipient))
        # Those who hold the document already, directly or through another space, are
        # not told again.
        holders = set(await _active_direct_shares(session, document, told, now))
        holders |= await _holders_elsewhere(session, document, told, now, besides=share.id)
        notified = await outbox.enqueue_many(
            session,
            [
                _shared_notice(org_id, id_of(share), document_id, person)
                for person in told
                if person not in holders
            ],
            at=now,
        )
    return SpaceShareResult(ShareResult(share, token), notified=notified, skipped=skipped)


async def create_link(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    terms: ShareTerms | None = None,
    max_downloads: int | None = None,
    notify_unused: bool = False,
) -> ShareResult:
    """A public link: whoever holds the token may view and download, within the limits.
    With ``notify_unused`` its creator is told if it expires never opened nor downloaded."""
    terms = terms or ShareTerms()
    now = env.clock.now()
    message = _check_terms(terms, now)
    if max_downloads is not None and max_downloads < 1:
        raise InvalidInput("the download limit must be at least 1")
    if notify_unused and terms.expires_at is None:
        raise InvalidInput("a link that never expires cannot expire unused: give it an expiry")
    async with env.sessions() as session, session.begin():
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        token, token_hash = new_token()
        share = Share(
            org_id=org_id,
            document_id=document_id,
            kind="link",
            token_hash=token_hash,
            message=message,
            created_by_staff_id=terms.staff_id,
            created_at=now,
            expires_at=terms.expires_at,
            max_downloads=max_downloads,
            notify_unused_expiry=notify_unused,
        )
        session.add(share)
        await session.flush()
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="link.created",
            at=now,
            document_id=document.id,
            share_id=share.id,
            details={
                "expires_at": _iso(terms.expires_at),
                "max_downloads": max_downloads,
                "notify_unused": notify_unused,
            },
        )
    return ShareResult(share, token)


async def revoke_share(env: Env, *, org_id: int, actor: Actor, share_id: int) -> Share:
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        share = await get_scoped(
            session, Share, org_id=org_id, id=share_id, what="share", lock=True
        )
        if share.revoked_at is not None:
            raise Conflict(f"share {share_id} was already revoked")
        share.revoked_at = now
        session.add(share)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="share.revoked",
            at=now,
            document_id=share.document_id,
            share_id=share.id,
            details={"kind": share.kind},
        )
    return share


async def watch_unused(
    env: Env, *, org_id: int, actor: Actor, share_id: int, staff_id: int | None
) -> Share:
    """Ask to be told if a link expires never opened nor downloaded; the one asking
    becomes whom the notice is for when the link has no creator on record."""
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        share = await get_scoped(
            session, Share, org_id=org_id, id=share_id, what="share", lock=True
        )
        if share.kind != "link":
            raise InvalidInput(f"share {share_id} is not a link")
        if share.revoked_at is not None:
            raise Conflict(f"link {share_id} was revoked")
        if share.expires_at is None:
            raise InvalidInput("a link that never expires cannot expire unused")
        if share.expires_at <= now:
            raise Conflict(f"link {share_id} has expired already")
        if share.notify_unused_expiry:
            return share
        share.notify_unused_expiry = True
        if share.created_by_staff_id is None:
            share.created_by_staff_id = staff_id
        session.add(share)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="link.watched",
            at=now,
            document_id=share.document_id,
            share_id=share.id,
            details={"notify_unused_expiry": True},
        )
    return share


async def list_shares(
    env: Env, *, org_id: int, document_id: int | None = None, active_only: bool = False
) -> Sequence[Share]:
    query = select(Share).where(Share.org_id == org_id)
    if document_id is not None:
        query = query.where(Share.document_id == document_id)
    if active_only:
        query = query.where(col(Share.revoked_at).is_(None))
    async with env.sessions() as session:
        rows = (await session.exec(query.order_by(col(Share.id)))).all()
    if active_only:
        now = env.clock.now()
        rows = [share for share in rows if _active(share, now)]
    return rows


def _active(share: Share | Row[Any], now: datetime) -> bool:
    if share.revoked_at is not None:
        return False
    if share.expires_at is not None and share.expires_at <= now:
        return False
    return share.max_downloads is None or share.download_count < share.max_downloads


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class TargetProblems:
    """Why sharing would refuse each kind of target; all lists are empty when it would not."""

    recipients: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    spaces: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.recipients or self.groups or self.spaces)


async def check_targets(
    env: Env,
    *,
    org_id: int,
    document_id: int,
    recipient_ids: Sequence[int] = (),
    group_ids: Sequence[int] = (),
    space_ids: Sequence[int] = (),
) -> TargetProblems:
    """What `share_with_recipient`, `share_with_group` and `share_with_space` would refuse
    for these targets, found before any of them is called: a form shares with several
    targets at once and must share with none when one of them would be refused."""
    now = env.clock.now()
    problems = TargetProblems()
    async with env.reads() as session:
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        for recipient_id in recipient_ids:
            try:
                recipient = await get_scoped(
                    session, Recipient, org_id=org_id, id=recipient_id, what="recipient"
                )
            except NotFound as e:
                problems.recipients.append(str(e))
                continue
            refusal = can_receive(recipient, now)
            if refusal:
                problems.recipients.append(f"cannot share: {refusal}")
        for group_id in group_ids:
            try:
                group = await get_scoped(session, Group, org_id=org_id, id=group_id, what="group")
            except NotFound as e:
                problems.groups.append(str(e))
                continue
            member = await session.exec(
                select(GroupMember.recipient_id).where(GroupMember.group_id == group_id).limit(1)
            )
            if member.first() is None:
                problems.groups.append(f"group {group.name} has no members")
        for space_id in space_ids:
            try:
                space = await get_scoped(session, Space, org_id=org_id, id=space_id, what="space")
            except NotFound as e:
                problems.spaces.append(str(e))
                continue
            held = await session.exec(
                select(Share).where(
                    Share.org_id == org_id,
                    Share.document_id == document_id,
                    Share.space_id == space_id,
                    col(Share.revoked_at).is_(None),
                )
            )
            if any(_active(share, now) for share in held.all()):
                problems.spaces.append(f"{document.ref} is already shared with space {space.name}")
    return problems
