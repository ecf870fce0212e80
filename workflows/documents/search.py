"""Finding documents: by title, category, client and date, and in the text of PDFs
(SQLite FTS5 or PostgreSQL full-text search, both built by migration 0003)."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import column, table, text
from sqlalchemy.orm import defer
from sqlmodel import col, select

from storage.models import Document
from workflows.context import Env
from workflows.documents.filing import REF
from workflows.errors import InvalidInput

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
    # The text is searched, never shown: a result list must not carry every PDF's text.
    statement = (
        select(Document)
        .where(Document.org_id == org_id)
        .options(defer(Document.text_content, raiseload=True))  # type: ignore[arg-type]
    )
    if query.category:
        statement = statement.where(col(Document.category).ilike(query.category.strip()))
    if query.client_id is not None:
        statement = statement.where(Document.client_id == query.client_id)
    if query.media_type is not None:
        statement = statement.where(Document.media_type == query.media_type)
    if query.created_from:
        statement = statement.where(col(Document.created_at) >= query.created_from)
    if query.created_until:
        statement = statement.where(col(Document.created_at) <= query.created_until)
    words = terms(query.words)
    ref = REF.match(query.words or "")
    async with env.reads() as session:
        dialect = session.get_bind().dialect.name
        if ref:
            statement = statement.where(Document.number == int(ref.group(1)))
        elif words:
            statement = _match(statement, words, dialect)
        else:
            statement = statement.order_by(col(Document.created_at).desc())
        if not (words and not ref and dialect == "sqlite"):  # FTS5 walks them in this order
            statement = statement.order_by(col(Document.id).desc())
        rows = (await session.exec(statement.limit(query.limit))).all()
    return list(rows)


def _match(statement: Any, words: list[str], dialect: str) -> Any:
    if dialect == "postgresql":
        # Newest first, as on SQLite: PostgreSQL walks the primary key backwards and stops
        # at the limit, or gathers the matches from the GIN index when they are few;
        # ranking every match of a common word would cost seconds on a large store.
        tsquery = " & ".join(f"{w}:*" for w in words)
        condition = text("document.search @@ to_tsquery('simple', :tsq)").bindparams(tsq=tsquery)
        return statement.where(condition)
    # Walking the full-text index newest first and stopping at the limit is several times
    # faster than collecting every match into an IN list: common words match thousands.
    match = " ".join(f'"{w}"*' for w in words)
    return (
        statement.join(DOCUMENT_FTS, DOCUMENT_FTS.c.rowid == Document.id)
        .where(text("document_fts MATCH :fts").bindparams(fts=match))
        .order_by(DOCUMENT_FTS.c.rowid.desc())
    )
