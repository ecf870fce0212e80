"""Names of the search structures that live outside the table metadata (see migration
0003): the SQLite FTS5 table and its triggers, the PostgreSQL tsvector column."""

SQLITE_FTS_TABLE = "document_fts"
POSTGRES_SEARCH_COLUMN = "search"
POSTGRES_SEARCH_INDEX = "ix_document_search"


def is_search_object(name: str | None, type_: str) -> bool:
    """True for schema objects of full-text search, which migrations manage by hand."""
    if name is None:
        return False
    if type_ == "table" and name.startswith(SQLITE_FTS_TABLE):
        return True
    if type_ == "index" and name == POSTGRES_SEARCH_INDEX:
        return True
    return type_ == "column" and name == POSTGRES_SEARCH_COLUMN
