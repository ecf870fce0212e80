"""document search: SQLite FTS5 table, PostgreSQL tsvector

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:25:00

The search structures live outside the SQLModel metadata (a virtual table on SQLite, a
generated column on PostgreSQL); ``storage.search`` names them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UP = [
    """
    CREATE VIRTUAL TABLE document_fts USING fts5(
        title, category, filename, text_content,
        content='document', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER document_fts_insert AFTER INSERT ON document BEGIN
        INSERT INTO document_fts(rowid, title, category, filename, text_content)
        VALUES (new.id, new.title, new.category, new.filename, coalesce(new.text_content, ''));
    END
    """,
    """
    CREATE TRIGGER document_fts_delete AFTER DELETE ON document BEGIN
        INSERT INTO document_fts(document_fts, rowid, title, category, filename, text_content)
        VALUES ('delete', old.id, old.title, old.category, old.filename,
                coalesce(old.text_content, ''));
    END
    """,
    """
    CREATE TRIGGER document_fts_update AFTER UPDATE ON document BEGIN
        INSERT INTO document_fts(document_fts, rowid, title, category, filename, text_content)
        VALUES ('delete', old.id, old.title, old.category, old.filename,
                coalesce(old.text_content, ''));
        INSERT INTO document_fts(rowid, title, category, filename, text_content)
        VALUES (new.id, new.title, new.category, new.filename, coalesce(new.text_content, ''));
    END
    """,
    "INSERT INTO document_fts(document_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS document_fts_update",
    "DROP TRIGGER IF EXISTS document_fts_delete",
    "DROP TRIGGER IF EXISTS document_fts_insert",
    "DROP TABLE IF EXISTS document_fts",
]
POSTGRES_UP = [
    """
    ALTER TABLE document ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('simple', coalesce(category, '') || ' ' || coalesce(filename, '')), 'B') ||
        setweight(to_tsvector('simple', left(coalesce(text_content, ''), 500000)), 'C')
    ) STORED
    """,
    "CREATE INDEX ix_document_search ON document USING gin (search)",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_document_search",
    "ALTER TABLE document DROP COLUMN IF EXISTS search",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_UP)
    elif dialect == "postgresql":
        _run(POSTGRES_UP)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _run(SQLITE_DOWN)
    elif dialect == "postgresql":
        _run(POSTGRES_DOWN)
