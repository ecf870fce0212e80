"""What every workflow is handed: the store, the medium, the clock, the limits, the actor."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from storage import walls
from storage.blobs import BlobStore
from storage.db import SessionFactory, read_session
from storage.walls import Wall
from workflows.errors import NotAllowed


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock for tests and one-off scans: it says what it is told."""

    at: datetime

    def now(self) -> datetime:
        return self.at


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int = 50 * 1024 * 1024
    max_text_chars: int = 2_000_000


@dataclass(frozen=True)
class Env:
    sessions: SessionFactory
    blobs: BlobStore
    clock: Clock = field(default_factory=SystemClock)
    limits: Limits = field(default_factory=Limits)
    reach: frozenset[str] = frozenset({"telegram", "email"})
    """The channels this installation sends recipients' notices through (``telegram``,
    ``email``). A notice for any other would wait in the outbox forever, so nothing that
    depends on one (a one-time code) is promised through it."""
    wall: Wall | None = None
    """The clients a walled staff member may see; every session of this environment sees
    only their rows (`storage.walls`). None: every client."""

    def walled(self, wall: Wall | None) -> Env:
        """This environment as seen by a staff member behind ``wall`` (None: no wall)."""
        if wall is None:
            return self
        return replace(self, sessions=walls.walled(self.sessions, wall), wall=wall)

    def require_every_client(self, *, to: str) -> None:
        """Refuse a walled staff member what only someone who sees every client may do
        (what the whole organisation holds, or its delivery queue)."""
        if self.wall is not None:
            raise NotAllowed(f"only staff who see every client may {to}")

    def reads(self) -> AsyncSession:
        """A session for queries only: on SQLite it does not wait for, or block, writers."""
        return read_session(self.sessions)


@dataclass(frozen=True)
class Actor:
    """Who did something: staff, a recipient, the holder of a link, or the system."""

    type: str
    id: str | None = None
    label: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type="system", label=label)

    @classmethod
    def staff(cls, staff_id: int, label: str | None = None) -> Actor:
        return cls(type="staff", id=str(staff_id), label=label)

    def with_request(self, *, ip: str | None, user_agent: str | None) -> Actor:
        return Actor(
            type=self.type, id=self.id, label=self.label, ip=ip, user_agent=(user_agent or "")[:512]
        )
