"""Sharing documents with recipients, groups and spaces; revoking.

Every share is written the same way, by `write`: plain values in one bulk insert each for
the shares, their history events and their notices. A group may hold ten thousand people,
and model objects would cost most of the time (a group's shares are even given column by
column, `NewShares`); a share with one person or a space takes the same path. What a share
reads comes first; each insert is then handed to the database (`bulk.Writes`) while the
next one's rows are computed. Whom a document may go to, and the refusals, are
`targets`'."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import bulk
from storage.models import Document, Share, SpaceMember
from storage.rows import id_of
from workflows import audit, outbox
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput
from workflows.outbox.kinds import Channel, SharePayload
from workflows.people.membership import SPACES, MemberRow, member_rows
from workflows.people.recipients import can_receive
from workflows.scope import clean_text, get_scoped
from workflows.sharing import cabinet, targets
from workflows.tokens import new_tokens
from workflows.webhooks import emitting
from workflows.webhooks import events as webhook_events
from workflows.webhooks.events import EventType

SHARES = Share.__table__  # type: ignore[attr-defined]
SPACE_MEMBERS = SpaceMember.__table__  # type: ignore[attr-defined]
IN_LIST = 500
"""Ids sent in one IN list; past this, a query reads the document's rows whole."""


class ShareRow(NamedTuple):
    """What is known of a share just made or found: its row, without the token's hash.

    A named tuple, not a frozen dataclass: a share with a group makes one for every
    member, and a frozen dataclass costs five times as much to make."""

    id: int
    document_id: int
    kind: str
    recipient_id: int | None = None
    group_id: int | None = None
    space_id: int | None = None
    message: str | None = None
    expires_at: datetime | None = None
    max_downloads: int | None = None
    notify_unused_expiry: bool = False

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> ShareRow:
        return cls(
            id=row["id"],
            document_id=row["document_id"],
            kind=row["kind"],
            recipient_id=row.get("recipient_id"),
            group_id=row.get("group_id"),
            space_id=row.get("space_id"),
            message=row.get("message"),
            expires_at=row.get("expires_at"),
            max_downloads=row.get("max_downloads"),
            notify_unused_expiry=bool(row.get("notify_unused_expiry")),
        )


class ShareResult(NamedTuple):
    """A share made (or found) for someone, with its raw token when it was just made: the
    token is handed out once; only its hash is kept."""

    share: ShareRow
    token: str | None
    created: bool = True


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
    across_clients: bool = False
    """Staff share on purpose with people of a client other than the document's; each
    such share names that client in its history (`targets`)."""


def check_terms(terms: ShareTerms, now: datetime) -> str | None:
    """The terms' message, cleaned; refuses an expiry without a zone or in the past."""
    if terms.expires_at is not None:
        if terms.expires_at.tzinfo is None:
            raise InvalidInput("the expiry needs a time zone")
        if terms.expires_at <= now:
            raise InvalidInput("the expiry must be in the future")
    return clean_text(terms.message, what="message", max_len=2000, required=False, multiline=True)


@dataclass(frozen=True)
class NewShare:
    """A share to write: to whom (or to which space, or to the link's holder), and what the
    history says of it."""

    kind: str
    action: str
    details: dict[str, Any]
    recipient_id: int | None = None
    group_id: int | None = None
    space_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Columns only some kinds set (a link's limits), the same for every share of a batch."""


@dataclass(frozen=True)
class Sharing:
    """A document being shared: the transaction, the document, who shares, on what terms
    (their message cleaned) and when."""

    session: AsyncSession
    document: Document
    actor: Actor
    terms: ShareTerms
    message: str | None
    now: datetime


@contextlib.asynccontextmanager
async def sharing(
    env: Env, *, org_id: int, actor: Actor, document_id: int, terms: ShareTerms | None
) -> AsyncIterator[Sharing]:
    """Check the terms, then open the transaction a share is written in, with its document."""
    terms = terms or ShareTerms()
    now = env.clock.now()
    message = check_terms(terms, now)
    async with env.sessions() as session, session.begin():
        document = await get_scoped(
            session, Document, org_id=org_id, id=document_id, what="document"
        )
        yield Sharing(session, document, actor, terms, message, now)


@dataclass(frozen=True, slots=True)
class NewShares:
    """Shares to write given column by column, one value a share in each list: what
    `NewShare` says of each, the history's details with the share's expiry already in
    them, and the one action the history records them as. A share with a group of ten
    thousand builds no object a share for this."""

    kind: list[str]
    action: str
    recipient_id: list[int | None]
    group_id: list[int | None]
    space_id: list[int | None]
    details: list[dict[str, Any]]
    extra: dict[str, list[Any]]


async def write(made: Sharing, new: Sequence[NewShare]) -> list[ShareResult]:
    """Insert ``new`` shares of the document and their history events, in the sharing's
    transaction, in one bulk insert each; each comes back with its token."""
    if not new:
        return []
    extra = new[0].extra.keys()
    if any(share.extra.keys() != extra for share in new):
        raise ValueError("shares written together must set the same extra columns")
    if any(share.action != new[0].action for share in new):
        raise ValueError("shares written together must be recorded as the same action")
    expires_at = _iso(made.terms.expires_at)
    batch = NewShares(
        kind=[share.kind for share in new],
        action=new[0].action,
        recipient_id=[share.recipient_id for share in new],
        group_id=[share.group_id for share in new],
        space_id=[share.space_id for share in new],
        details=[{**share.details, "expires_at": expires_at} for share in new],
        extra={name: [share.extra[name] for share in new] for name in extra},
    )
    async with bulk.writing(made.session) as writes:
        ids, tokens = await _write(made, batch, writes)
        return _results(made, batch, ids, tokens)


async def _write(
    made: Sharing, batch: NewShares, writes: bulk.Writes
) -> tuple[list[int], list[str]]:
    """Insert the ``batch`` of shares and their history events, as `write` does, handing
    the inserts to ``writes``; the shares' ids and tokens. What the rest needs of the
    database is read first, so that the history is computed while the shares are stored."""
    session, document, terms, message, now = (
        made.session,
        made.document,
        made.terms,
        made.message,
        made.now,
    )
    count = len(batch.kind)
    if not count:
        return [], []
    org_id, document_id = document.org_id, id_of(document)
    ids = await bulk.reserve_ids(session, SHARES, count)
    chains = await audit.lock_chains(session, [org_id])
    webhooks = await emitting.wanted(session, org_id=org_id, event_type=EventType.DOCUMENT_SHARED)
    tokens, token_hashes = new_tokens(count)
    await writes.insert_columns(
        SHARES,
        varying={
            "id": ids,
            "token_hash": token_hashes,
            "kind": batch.kind,
            "recipient_id": batch.recipient_id,
            "group_id": batch.group_id,
            "space_id": batch.space_id,
            **batch.extra,
        },
        same={
            "org_id": org_id,
            "document_id": document_id,
            "message": message,
            "created_by_staff_id": terms.staff_id,
            "created_at": now,
            "expires_at": terms.expires_at,
        },
    )
    await audit.append_alike(
        session,
        audit.AlikeEvents(
            org_id=org_id,
            actor=made.actor,
            action=batch.action,
            at=now,
            document_id=document_id,
            share_ids=ids,
            details=batch.details,
        ),
        chains=chains,
        writes=writes,
    )
    if webhooks:
        await emitting.emit_many(
            session,
            [
                webhook_events.document_shared(
                    document=document,
                    share={
                        "id": share_id,
                        "kind": kind,
                        "recipient_id": recipient_id,
                        "space_id": space_id,
                        "expires_at": terms.expires_at,
                    },
                    at=now,
                )
                for share_id, kind, recipient_id, space_id in zip(
                    ids, batch.kind, batch.recipient_id, batch.space_id, strict=True
                )
            ],
        )
    return ids, tokens


def _results(
    made: Sharing, batch: NewShares, ids: list[int], tokens: list[str]
) -> list[ShareResult]:
    """The shares of ``batch`` written with these ids and tokens."""
    count = len(ids)
    limits = batch.extra.get("max_downloads", [None] * count)
    watched = batch.extra.get("notify_unused_expiry", [False] * count)
    document_id, message, expires_at = id_of(made.document), made.message, made.terms.expires_at
    return [
        ShareResult(
            ShareRow(
                share_id,
                document_id,
                kind,
                recipient_id,
                group_id,
                space_id,
                message,
                expires_at,
                limit,
                bool(watch),
            ),
            token,
        )
        for share_id, token, kind, recipient_id, group_id, space_id, limit, watch in zip(
            ids,
            tokens,
            batch.kind,
            batch.recipient_id,
            batch.group_id,
            batch.space_id,
            limits,
            watched,
            strict=True,
        )
    ]


async def share_with_recipient(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    document_id: int,
    recipient_id: int,
    terms: ShareTerms | None = None,
) -> ShareResult:
    async with sharing(
        env, org_id=org_id, actor=actor, document_id=document_id, terms=terms
    ) as made:
        person, checked = await targets.recipient(
            made.session,
            document=made.document,
            recipient_id=recipient_id,
            now=made.now,
            across_clients=made.terms.across_clients,
        )
        shared = await _share_with_each(made, [person], None, checked.other_client)
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
    result = GroupShareResult()
    async with sharing(
        env, org_id=org_id, actor=actor, document_id=document_id, terms=terms
    ) as made:
        members, checked = await targets.group(
            made.session,
            document=made.document,
            group_id=group_id,
            across_clients=made.terms.across_clients,
        )
        eligible = []
        for recipient in members:
            refusal = can_receive(recipient, made.now)
            if refusal:
                result.skipped.append(refusal)
            else:
                eligible.append(recipient)
        result.shares.extend(await _share_with_each(made, eligible, group_id, checked.other_client))
    return result


async def _share_with_each(
    made: Sharing,
    recipients: Sequence[MemberRow],
    group_id: int | None,
    other_client: str | None,
) -> list[ShareResult]:
    """A direct share of the document for each of ``recipients`` (who may all receive it),
    in the sharing's transaction: the live share someone already has, or a new one with
    its history event and, unless they hold the document through a space, a notice."""
    session, document, now = made.session, made.document, made.now
    holdings = await _holdings(session, document, [r.id for r in recipients], now)
    held, holders = holdings.direct, holdings.through_spaces
    results = [
        ShareResult(ShareRow.of(held[r.id]), None, created=False)
        for r in recipients
        if r.id in held
    ]
    fresh = [r for r in recipients if r.id not in held]
    count = len(fresh)
    crossing = _crossing({}, other_client)
    expires_at = _iso(made.terms.expires_at)
    batch = NewShares(
        kind=["recipient"] * count,
        action="document.shared",
        recipient_id=[r.id for r in fresh],
        group_id=[group_id] * count,
        space_id=[None] * count,
        # What `write` would make of each one's `NewShare`, built at once.
        details=[
            {
                "recipient_id": r.id,
                "recipient": r.name,
                "group_id": group_id,
                **crossing,
                "expires_at": expires_at,
            }
            for r in fresh
        ],
        extra={},
    )
    async with bulk.writing(session) as writes:
        ids, tokens = await _write(made, batch, writes)
        told = [
            (r.id, share_id) for r, share_id in zip(fresh, ids, strict=True) if r.id not in holders
        ]
        await outbox.enqueue_alike(
            writes,
            org_id=document.org_id,
            channel=Channel.RECIPIENT,
            payload=SharePayload(share_id=0, document_id=id_of(document)),
            varying="share_id",
            notices=[
                (str(recipient_id), share_id, _shared_key(share_id, recipient_id))
                for recipient_id, share_id in told
            ],
            at=now,
        )
        # Built while the database stores the rows.
        shared = _results(made, batch, ids, tokens)
    await cabinet.tell_of_share(
        session,
        org_id=document.org_id,
        document_id=id_of(document),
        receipts=[
            cabinet.Receipt(r.id, r.client_id, share_id)
            for r, share_id in zip(fresh, ids, strict=True)
            if r.id not in holders
        ],
        at=now,
    )
    return results + shared


@dataclass(frozen=True, slots=True)
class Holdings:
    """What some recipients already hold of a document."""

    direct: dict[int, dict[str, Any]]
    """The live direct share of each who has one, as a plain row."""
    through_spaces: set[int]
    """Those who hold it through one of its spaces, by a share in force."""


async def _holdings(
    session: AsyncSession,
    document: Document,
    recipient_ids: list[int],
    now: datetime,
    *,
    besides: int | None = None,
) -> Holdings:
    """What these recipients hold of ``document``: their live direct shares, and whether
    they hold it through a space by a share in force other than ``besides``.

    One read of the document's shares serves both; the spaces' members are read only when
    a space share is in force, which a document shared with a group seldom has. Shares are
    read as plain rows: sharing again with a group of ten thousand reads them all, and
    models would cost most of that. For many recipients the document's shares are read
    whole and filtered here: one plain query instead of a long IN list compiled and sent
    chunk by chunk."""
    if not recipient_ids:
        return Holdings({}, set())
    wanted = set(recipient_ids)
    few = len(recipient_ids) <= IN_LIST
    direct = SHARES.c.kind == "recipient"
    if few:
        direct = and_(direct, SHARES.c.recipient_id.in_(recipient_ids))
    connection = await session.connection()
    shares = await connection.execute(
        select(SHARES).where(
            SHARES.c.org_id == document.org_id,
            SHARES.c.document_id == document.id,
            SHARES.c.revoked_at.is_(None),
            or_(SHARES.c.space_id.is_not(None), direct),
        )
    )
    held: dict[int, dict[str, Any]] = {}
    spaces: list[int] = []
    for share in shares.all():
        if share.space_id is not None:
            if share.id != besides and (share.expires_at is None or share.expires_at > now):
                spaces.append(share.space_id)
        elif share.recipient_id in wanted and targets.active(share, now):
            held[share.recipient_id] = share._asdict()
    if not spaces:
        return Holdings(held, set())
    members = select(SPACE_MEMBERS.c.recipient_id).where(
        SPACE_MEMBERS.c.org_id == document.org_id, SPACE_MEMBERS.c.space_id.in_(spaces)
    )
    if few:
        members = members.where(SPACE_MEMBERS.c.recipient_id.in_(recipient_ids))
    return Holdings(held, set((await connection.execute(members)).scalars()) & wanted)


def _shared_notice(document: Document, share_id: int, recipient_id: int) -> outbox.NewNotification:
    return outbox.NewNotification(
        org_id=document.org_id,
        channel=Channel.RECIPIENT,
        target=str(recipient_id),
        payload=SharePayload(share_id=share_id, document_id=id_of(document)),
        dedupe_key=_shared_key(share_id, recipient_id),
    )


def _shared_key(share_id: int, recipient_id: int) -> str:
    return f"share:{share_id}:recipient:{recipient_id}"


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
    async with sharing(
        env, org_id=org_id, actor=actor, document_id=document_id, terms=terms
    ) as made:
        session, document, now = made.session, made.document, made.now
        space, checked = await targets.space(
            session,
            document=document,
            space_id=space_id,
            now=now,
            across_clients=made.terms.across_clients,
        )
        [shared] = await write(
            made,
            [
                NewShare(
                    kind="space",
                    action="document.shared",
                    space_id=space_id,
                    details=_crossing(
                        {"space_id": space_id, "space": space.name}, checked.other_client
                    ),
                )
            ],
        )
        skipped: list[str] = []
        told: list[int] = []
        clients: dict[int, int] = {}
        for recipient in await member_rows(session, SPACES, org_id=org_id, place_id=space_id):
            refusal = can_receive(recipient, now)
            if refusal:
                skipped.append(refusal)
            else:
                told.append(recipient.id)
                clients[recipient.id] = recipient.client_id
        # Those who hold the document already, directly or through another space, are
        # not told again.
        holdings = await _holdings(session, document, told, now, besides=shared.share.id)
        holders = set(holdings.direct) | holdings.through_spaces
        notified = await outbox.enqueue_many(
            session,
            [
                _shared_notice(document, shared.share.id, person)
                for person in told
                if person not in holders
            ],
            at=now,
        )
        await cabinet.tell_of_share(
            session,
            org_id=org_id,
            document_id=id_of(document),
            receipts=[
                cabinet.Receipt(person, clients[person], shared.share.id)
                for person in told
                if person not in holders
            ],
            at=now,
        )
    return SpaceShareResult(shared, notified=notified, skipped=skipped)


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
        rows = [share for share in rows if targets.active(share, now)]
    return rows


def _crossing(details: dict[str, Any], other_client: str | None) -> dict[str, Any]:
    """The details of a share's event, naming the other client it went to on purpose."""
    return {**details, "across_clients": other_client} if other_client else details


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
