"""Finding documents: by title, category, client and date, and in the text of PDFs
(SQLite FTS5 or PostgreSQL full-text search, both built by migration 0003)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import column, func, table, text
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Document
from workflows.context import Env
from workflows.documents.filing import REF
from workflows.errors import InvalidInput

_WINDOWED = Document.__table__.alias("windowed")  # type: ignore[attr-defined]
"""The plain table, which no ethical wall narrows, where a search counts its windows."""
DOCUMENT_FTS = table("document_fts", column("rowid"))
"""The FTS5 table migration 0003 builds on SQLite (outside the models' metadata)."""
WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8


@dataclass(frozen=True)
class SearchQuery:
    words: str | None = None
    category: str | None = None
    client_id: int | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None
    media_type: str | None = None
    limit: int = 20


FILTERS = ("category", "client", "from", "to")


@dataclass(frozen=True)
class TypedQuery:
    """What staff typed, taken apart: words, and the ``name:value`` filters among them."""

    words: str = ""
    category: str | None = None
    client: str | None = None
    created_from: datetime | None = None
    created_until: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (
            terms(self.words)
            or self.category
            or self.client
            or self.created_from
            or self.created_until
        )


def parse_typed(text: str) -> TypedQuery:
    """``fee table category:contract client:"Nordic Timber" from:2026-01-01 to:2026-06-30``.

    Values with spaces are quoted; dates are whole days (UTC), ``to`` included. Anything
    else is a word to look for.
    """
    try:
        parts = shlex.split(text)
    except ValueError as e:
        raise InvalidInput(f"unbalanced quotes in {text!r}") from e
    words: list[str] = []
    found: dict[str, str] = {}
    for part in parts:
        name, sep, value = part.partition(":")
        name = name.lower()
        if not sep or name not in FILTERS:
            words.append(part)
            continue
        if not value.strip():
            raise InvalidInput(f"say what {name}, e.g. {name}:{_EXAMPLES[name]}")
        if name in found:
            raise InvalidInput(f"give {name}: once")
        found[name] = value.strip()
    created_from = _day(found["from"], "from") if "from" in found else None
    created_until = (
        _day(found["to"], "to") + timedelta(days=1, microseconds=-1) if "to" in found else None
    )
    if created_from and created_until and created_until < created_from:
        raise InvalidInput("the date range ends before it starts")
    return TypedQuery(
        words=" ".join(words),
        category=found.get("category"),
        client=found.get("client"),
        created_from=created_from,
        created_until=created_until,
    )


_EXAMPLES = {
    "category": "contract",
    "client": '"Nordic Timber"',
    "from": "2026-01-01",
    "to": "2026-12-31",
}


def _day(value: str, name: str) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise InvalidInput(f"{name}: takes a date like 2026-01-31, not {value!r}") from e
    return datetime.combine(day, time(), tzinfo=UTC)


def terms(words: str | None) -> list[str]:
    """The words to look for: letters and digits only, so no query syntax gets through."""
    return [w.lower() for w in WORD.findall(words or "")][:MAX_TERMS]


async def find_documents(env: Env, *, org_id: int, query: SearchQuery) -> list[Document]:
    """Documents of the organisation matching every given criterion, newest first; their
    ``text_content`` is not loaded."""
    if not 1 <= query.limit <= 200:
        raise InvalidInput("ask for between 1 and 200 results")
    if query.created_from and query.created_until and query.created_until < query.created_from:
        raise InvalidInput("the date range ends before it starts")
    conditions: list[Any] = [Document.org_id == org_id]
    if query.category:
        conditions.append(col(Document.category).ilike(query.category.strip()))
    if query.client_id is not None:
        conditions.append(Document.client_id == query.client_id)
    if query.media_type is not None:
        conditions.append(Document.media_type == query.media_type)
    if query.created_from:
        conditions.append(col(Document.created_at) >= query.created_from)
    if query.created_until:
        conditions.append(col(Document.created_at) <= query.created_until)
    # The text is searched, never shown: a result list must not carry every PDF's text.
    statement = select(Document).options(
        defer(Document.text_content, raiseload=True)  # type: ignore[arg-type]
    )
    words = terms(query.words)
    ref = REF.match(query.words or "")
    async with env.reads() as session:
        dialect = session.get_bind().dialect.name
        if ref:
            conditions.append(Document.number == int(ref.group(1)))
        elif words and dialect == "postgresql":
            return await _matches_postgres(
                session, statement, conditions, org_id=org_id, words=words, limit=query.limit
            )
        elif words:
            statement = _match_sqlite(statement, words)
        else:
            statement = statement.order_by(col(Document.created_at).desc())
        if not (words and not ref):  # FTS5 walks them newest first
            statement = statement.order_by(col(Document.id).desc())
        rows = (await session.exec(statement.where(*conditions).limit(query.limit))).all()
    return list(rows)


WINDOW = 1000
WINDOWS = 3
"""A search on PostgreSQL tests the newest documents one by one in windows of `WINDOW`, at
most `WINDOWS` of them, and each next window only when the matches so far promise to fill
the results within it; what the windows did not fill comes from the full-text index."""


async def _matches_postgres(
    session: AsyncSession,
    statement: Any,
    conditions: list[Any],
    *,
    org_id: int,
    words: list[str],
    limit: int,
) -> list[Document]:
    """The newest ``limit`` documents matching ``words`` and ``conditions``.

    A word in many documents is found among the newest few hundred: testing documents one
    by one, newest first, stops at the limit within a millisecond, where gathering every
    match from the GIN index costs a heap visit each (a third of a second for a word in
    half of 100,000 documents). A rare word is the opposite: testing one by one reads the
    stored text of every document for a handful of matches (over a second), the index
    hands over the few at once. The planner cannot tell them apart (it does not count
    reading the text), so the newest documents are tested in windows (`WINDOW`) and
    whatever the windows did not fill is gathered from the index below them.

    The windows are counted in the plain table, which no ethical wall narrows, so that a
    window's edge is the same in the query that tests it and in the one that reads it.
    """
    tsquery = " & ".join(f"{w}:*" for w in words)
    match = text("document.search @@ to_tsquery('simple', :tsq)").bindparams(tsq=tsquery)
    newest_first = col(Document.id).desc()
    found: list[Document] = []
    edge: int | None = None  # documents from here up are tested, those below are left
    tested = 0
    for _ in range(WINDOWS):
        if tested and (limit - len(found)) * tested > len(found) * WINDOW:
            break  # too rare to fill the results in the next window
        left = [] if edge is None else [_WINDOWED.c.id < edge]
        # The window's oldest document: none when fewer are left, and the window is all.
        oldest = (
            select(_WINDOWED.c.id)
            .where(_WINDOWED.c.org_id == org_id, *left)
            .order_by(_WINDOWED.c.id.desc())
            .offset(WINDOW - 1)
            .limit(1)
        )
        within = col(Document.id) >= func.coalesce(oldest.scalar_subquery(), 0)
        step = statement.where(*conditions, match, *_below(edge), within)
        found += (await session.exec(step.order_by(newest_first).limit(limit - len(found)))).all()
        if len(found) == limit:
            return found
        edge = (await session.exec(oldest)).first()
        if edge is None:
            return found
        tested += WINDOW
    # MATERIALIZED: planned on its own, without the order that would make the planner walk
    # the primary key backwards and test every older document's text.
    rest = select(Document.id).where(*conditions, match, *_below(edge)).cte("older_matches")
    rest = rest.prefix_with("MATERIALIZED")
    newest_ids = select(rest.c.id).order_by(rest.c.id.desc()).limit(limit - len(found))
    older = statement.where(col(Document.id).in_(newest_ids)).order_by(newest_first)
    return found + list((await session.exec(older)).all())


def _below(edge: int | None) -> list[Any]:
    return [] if edge is None else [col(Document.id) < edge]


def _match_sqlite(statement: Any, words: list[str]) -> Any:
    # Walking the full-text index newest first and stopping at the limit is several times
    # faster than collecting every match into an IN list: common words match thousands.
    match = " ".join(f'"{w}"*' for w in words)
    return (
        statement.join(DOCUMENT_FTS, DOCUMENT_FTS.c.rowid == Document.id)
        .where(text("document_fts MATCH :fts").bindparams(fts=match))
        .order_by(DOCUMENT_FTS.c.rowid.desc())
    )
