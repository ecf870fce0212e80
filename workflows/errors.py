"""The errors workflows raise. Adapters map each kind once: to a chat message, an HTTP
status or a CLI exit code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Readable(Protocol):
    """A value of a refusal that is written for its reader: told in their language when
    the refusal is (`Size`, `Phrase`, `When`)."""

    def told(self, language: str | None) -> str: ...


@dataclass(frozen=True)
class Size:
    """A number of bytes, as the reader's locale writes a file's size ('1,5 МБ')."""

    bytes: int

    def told(self, language: str | None) -> str:
        import texts  # Babel's locale data, only when a refusal is told

        return texts.size(self.bytes, language)


@dataclass(frozen=True)
class Phrase:
    """Another message of the catalogues, in the reader's language (a kind of file)."""

    key: str

    def told(self, language: str | None) -> str:
        import texts

        return texts.text(language, self.key, escape=False)


@dataclass(frozen=True)
class When:
    """A moment, as the reader's locale writes it ('1 grudnia 2026, 12:00 UTC')."""

    at: datetime

    def told(self, language: str | None) -> str:
        import texts

        return texts.when(self.at, language)


class WorkflowError(Exception):
    """Base: the message is meant for the person who asked.

    The message is English, for staff and logs. An error a client may meet also names a
    catalogue key (``says``) with the ``values`` it fills in, so that pages and chats can
    tell the client the same reason in their own language. A value that depends on the
    language — a size, a phrase — is given raw, as a `Readable` (``limit=Size(n)``), and
    is written out only when the refusal is told.
    """

    def __init__(self, message: str, *, says: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.says = says
        self.values = values

    def told(self, language: str | None) -> str:
        """The reason in ``language`` when the error names one, else the English message
        (plain text: the caller escapes it for where it goes)."""
        if self.says is None:
            return str(self)
        import texts

        values = {
            name: value.told(language) if isinstance(value, Readable) else value
            for name, value in self.values.items()
        }
        return texts.text(language, self.says, escape=False, **values)


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
