"""Downloads made of range requests: one counts once the whole file has been served.

A plain GET of the file is a download, counted before a byte goes
(`access.start_download`). A range request — a PDF viewer fetching what it shows, a
download manager fetching in pieces — counts nothing by itself: the spans each visitor has
fetched are kept (`RangeProgress`), and the request that completes the file is the
download: counted, and refused when the link has none left, before its bytes go. The
caller checks the link first, as for any visit, so nothing goes out from a link that no
longer opens. A visitor is known by a hash of their address and browser; what they fetched
is forgotten a day after their last range (`forget`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from storage.models import RangeProgress
from storage.rows import id_of
from workflows.context import Env
from workflows.sharing import access
from workflows.sharing.access import AccessRecorder, SharedDocument, Visitor

KEPT = timedelta(days=1)
Span = list[int]


def merged(spans: list[Span], start: int, stop: int) -> list[Span]:
    """``spans`` (sorted, apart) with ``[start, stop)`` added, touching spans joined."""
    result: list[Span] = []
    for low, high in sorted([*spans, [start, stop]]):
        if result and low <= result[-1][1]:
            result[-1][1] = max(result[-1][1], high)
        else:
            result.append([low, high])
    return result


def visitor_key(visitor: Visitor) -> str:
    return hashlib.sha256(f"{visitor.ip}\0{visitor.user_agent}".encode()).hexdigest()


async def fetch_range(
    env: Env,
    token: str,
    found: SharedDocument,
    visitor: Visitor,
    *,
    start: int,
    stop: int,
    recorder: AccessRecorder | None = None,
) -> bool:
    """Note that bytes ``[start, stop)`` of ``found``'s file (its link ``token`` already
    checked by `access.resolve`) go to ``visitor``; when with what they fetched before
    these complete the file, count and record the download (refused when the link has
    none left). Returns whether this range made a download."""
    for attempt in range(2):  # a first piece racing another for the same new row
        try:
            complete = await _note(
                env, found, visitor_key(visitor), start, stop, found.document.size
            )
            break
        except IntegrityError:
            if attempt:
                raise
    if complete:
        await access.start_download(env, token, visitor, recorder=recorder)
    return complete


async def _note(
    env: Env, found: SharedDocument, visitor: str, start: int, stop: int, size: int
) -> bool:
    """Add the span to the visitor's progress; True (and the progress gone) when it now
    covers the whole file."""
    share_id = id_of(found.share)
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        progress = (
            await session.exec(
                select(RangeProgress)
                .where(RangeProgress.share_id == share_id, RangeProgress.visitor == visitor)
                .with_for_update()
            )
        ).first()
        spans = merged(progress.spans if progress else [], start, stop)
        if spans == [[0, size]]:
            if progress is not None:
                await session.delete(progress)
            return True
        if progress is None:
            progress = RangeProgress(
                org_id=found.share.org_id, share_id=share_id, visitor=visitor, updated_at=now
            )
        progress.spans, progress.updated_at = spans, now
        session.add(progress)
    return False


async def forget(env: Env, *, at: datetime) -> int:
    """Drop what visitors fetched by ranges more than `KEPT` before ``at``."""
    async with env.sessions() as session, session.begin():
        result = await session.exec(
            delete(RangeProgress).where(col(RangeProgress.updated_at) < at - KEPT)
        )
        return int(result.rowcount or 0)
