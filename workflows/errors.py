"""The errors workflows raise. Adapters map each kind once: to a chat message, an HTTP
status or a CLI exit code."""

from __future__ import annotations

from datetime import datetime


class WorkflowError(Exception):
    """Base: the message is meant for the person who asked."""


class NotFound(WorkflowError):
    """No such thing in this organisation (other tenants' rows are 'not found' too)."""


class NotAllowed(WorkflowError):
    """The thing exists but this actor may not do this to it."""


class TooMany(NotAllowed):
    """Too many tries in a while (wrong codes, codes asked for): try again later."""


class Conflict(WorkflowError):
    """The request clashes with the current state (a duplicate, already revoked, ...)."""


class InvalidInput(WorkflowError):
    """The request itself is wrong: a bad file, an unknown category, a window that ends
    before it starts."""


class Gone(WorkflowError):
    """It existed and is no longer available: revoked, expired, used up."""


class NotAvailableNow(WorkflowError):
    """Outside the document's availability window."""

    def __init__(
        self, message: str, *, available_from: datetime | None, available_until: datetime | None
    ) -> None:
        super().__init__(message)
        self.available_from = available_from
        self.available_until = available_until


class Unavailable(WorkflowError):
    """A dependency (the blob store, the database) could not do its part."""
