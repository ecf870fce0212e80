"""What a check says: a status and one line why, and the helpers that keep that line short
and free of credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    """Works, but needs attention soon."""
    FAIL = "fail"
    SKIP = "skip"
    """Not configured."""

    @property
    def label(self) -> str:
        return "FAIL" if self is Status.FAIL else self.value


@dataclass(frozen=True)
class Verdict:
    """What one check found: its status and one line saying why."""

    status: Status
    detail: str


@dataclass(frozen=True)
class Finding:
    """A verdict on one part of the installation."""

    part: str
    status: Status
    detail: str

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL


def ok(detail: str) -> Verdict:
    return Verdict(Status.OK, detail)


def fail(detail: str) -> Verdict:
    return Verdict(Status.FAIL, detail)


def skip(detail: str) -> Verdict:
    return Verdict(Status.SKIP, detail)


@dataclass
class Notes:
    """What a check with several steps found: problems fail it, warnings warn, the rest
    is said after them."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def verdict(self, subject: str) -> Verdict:
        status = Status.FAIL if self.problems else Status.WARN if self.warnings else Status.OK
        said = "; ".join(self.problems + self.warnings + self.facts)
        return Verdict(status, f"{subject}: {said}")


def without_credentials(url: str) -> str:
    """The URL without a user name or password, fit to show."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def first_line(value: object) -> str:
    """An error's message on one line (its type's name when it has none)."""
    return " ".join(str(value).split()) or type(value).__name__
