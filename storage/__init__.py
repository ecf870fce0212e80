"""The store: SQLModel tables, async sessions, migrations and the durable medium for blobs."""
