"""A document's history in words: one sentence per audit event, for staff to read.

Events keep their details as data (the chain hashes them; ``--json`` shows them as they are).
Here each action has a describer that turns its details into a sentence, such as "Shared
with Jane Client (jane@acme.test) until 31 Dec 2027 (share 3)". Details a describer does
not use, and actions without a describer, still read as words ("key: value", lists joined
with commas, yes/no, "name (role)"), never as a Python repr.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import col, select

from storage.models import AuditEvent, Group, Organization, Recipient
from workflows.context import Env

_HASH = re.compile(r"[0-9a-f]{64}")
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
DECIDING_ROLES = ("signer", "approver")
END_OF_DAY = (23, 59, 59)
"""The time a date typed without one stands for, when it ends something."""


@dataclass(frozen=True)
class Person:
    name: str
    email: str | None = None


@dataclass(frozen=True)
class Directory:
    """What events need to be told in words: who the ids in them stand for (as the store
    knows them now), and the organisation's time zone for the moments they name."""

    people: Mapping[int, Person] = field(default_factory=dict)
    groups: Mapping[int, str] = field(default_factory=dict)
    timezone: str = "UTC"


NOBODY = Directory()


async def directory_for(env: Env, *, org_id: int, events: Iterable[AuditEvent]) -> Directory:
    """The recipients and groups that ``events`` name by id, and the organisation's time
    zone, looked up in one go."""
    people_ids: set[int] = set()
    group_ids: set[int] = set()
    for event in events:
        details = event.details or {}
        people_ids.update(_ids(details, "recipient_id", "on_behalf_of"))
        group_ids.update(_ids(details, "group_id"))
    async with env.reads() as session:
        organization = await session.get(Organization, org_id)
        people = (
            await session.exec(
                select(Recipient).where(
                    Recipient.org_id == org_id, col(Recipient.id).in_(people_ids)
                )
            )
        ).all()
        groups = (
            await session.exec(
                select(Group).where(Group.org_id == org_id, col(Group.id).in_(group_ids))
            )
        ).all()
    return Directory(
        people={p.id: Person(p.name, p.email) for p in people if p.id is not None},
        groups={g.id: g.name for g in groups if g.id is not None},
        timezone=organization.timezone if organization is not None else "UTC",
    )


def _ids(details: Mapping[str, Any], *keys: str) -> list[int]:
    values = (details.get(key) for key in keys)
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def describe(event: AuditEvent, directory: Directory = NOBODY) -> str:
    """The event as a sentence, followed by any details the sentence does not tell."""
    details = _Details(event.details or {})
    describer = DESCRIBERS.get(event.action)
    try:
        sentence = describer(details, event, directory) if describer else None
    except (TypeError, ValueError, AttributeError):  # details of a shape it does not know
        details, sentence = _Details(event.details or {}), None
    if sentence is None:
        sentence = event.action.replace(".", " ").replace("_", " ").capitalize()
        if event.share_id:
            sentence += _share(event)
    if event.ip:
        sentence += f", from {event.ip}"
    rest = [
        f"{key.replace('_', ' ')}: {readable(value, directory.timezone)}"
        for key, value in details.unread()
    ]
    return "; ".join([sentence, *rest])


def readable(value: Any, zone: str = "UTC") -> str:
    """Any detail value in words: lists joined with commas, yes/no, "name (role)", and
    moments in the time zone ``zone``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return when(value, zone)
    if isinstance(value, str):
        if _HASH.fullmatch(value):
            return value[:12] + "…"
        if _ISO_TIME.match(value):
            try:
                return when(value, zone)
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        if "name" in value:
            name, role = readable(value["name"], zone), value.get("role")
            return f"{name} ({readable(role, zone)})" if role else name
        return ", ".join(f"{key} ({readable(v, zone)})" for key, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(readable(v, zone) for v in value)
    return str(value)


def when(value: datetime | str, zone: str = "UTC") -> str:
    """A moment in the time zone ``zone``: '31 Dec 2027' for the end of that day (a date
    typed without a time), else '31 Dec 2027, 18:30 CET'. Naive values are UTC."""
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    try:
        local = at.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = at.astimezone(UTC)
    day = f"{local.day} {local:%b %Y}"
    if (local.hour, local.minute, local.second) == END_OF_DAY:
        return day
    return f"{day}, {local:%H:%M %Z}"


class _Details:
    """An event's details, remembering which keys the describer read."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._read: set[str] = set()

    def get(self, key: str) -> Any:
        self._read.add(key)
        return self._data.get(key)

    def told(self, *keys: str) -> None:
        """Keys the sentence covers without quoting them (ids the names stand for)."""
        self._read.update(keys)

    def unread(self) -> list[tuple[str, Any]]:
        return [
            (key, value)
            for key, value in self._data.items()
            if key not in self._read and value not in (None, "", [], {})
        ]


Describer = Callable[[_Details, AuditEvent, Directory], str]


# -- documents ------------------------------------------------------------------------------


def _added(d: _Details, event: AuditEvent, directory: Directory) -> str:
    return f"Added {_file(d)}"


def _returned(d: _Details, event: AuditEvent, directory: Directory) -> str:
    return f"Returned to the organisation: {_file(d)}"


def _file(d: _Details) -> str:
    """'D-1 “Fee table” (fee.pdf, 3.2 KB), version 2, in category contract, SHA-256 1a2b…'."""
    d.told("media_type")
    named = " ".join(str(part) for part in (d.get("ref"), _quoted(d.get("title"))) if part)
    words = [named or "a document"]
    file = [str(part) for part in (d.get("filename"),) if part]
    size = d.get("size")
    if isinstance(size, int):
        file.append(file_size(size))
    if file:
        words[0] += f" ({', '.join(file)})"
    version = d.get("version_no")
    if isinstance(version, int) and version > 1:
        words.append(f"version {version}")
    if d.get("category"):
        words.append(f"in category {d.get('category')}")
    if d.get("sha256"):
        words.append(f"SHA-256 {readable(d.get('sha256'))}")
    return ", ".join(words)


def file_size(size: int) -> str:
    """1234567 → '1.2 MB' (binary multiples, as file managers show them)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            return f"{f'{value:.1f}'.removesuffix('.0')} {unit}"
    raise AssertionError("unreachable")


# -- shares and links -------------------------------------------------------------------------


def _shared(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("space_id")
    if d.get("space"):
        target = f"space {d.get('space')}"
    else:
        target = _person(d.get("recipient"), d.get("recipient_id"), directory)
    group = d.get("group_id")
    if group is not None:
        target += f" through group {directory.groups.get(group, group)}"
    other = d.get("across_clients")
    if other:
        target += f", outside the document's client on purpose ({other})"
    expires = d.get("expires_at")
    ends = f" until {when(expires, directory.timezone)}" if expires else ", with no end date"
    return f"Shared with {target}{ends}{_share(event)}"


def _link_created(d: _Details, event: AuditEvent, directory: Directory) -> str:
    expires = d.get("expires_at")
    limit = d.get("max_downloads")
    words = [
        "Link created",
        f"expires {when(expires, directory.timezone)}" if expires else "never expires",
        _downloads(limit) if limit else "no download limit",
    ]
    if d.get("notify_unused"):
        words.append("staff are told if it expires unused")
    return ", ".join(words) + _share(event)


def _downloads(limit: int) -> str:
    return f"at most {limit} download" + ("" if limit == 1 else "s")


def _link_watched(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("notify_unused_expiry")
    return f"Staff will be told if the link expires unused{_share(event)}"


_REVOKED = {
    "link": "Link revoked",
    "recipient": "Share with a recipient revoked",
    "space": "Share with a space revoked",
}


def _revoked(d: _Details, event: AuditEvent, directory: Directory) -> str:
    return _REVOKED.get(str(d.get("kind")), "Share revoked") + _share(event)


def _opened(d: _Details, event: AuditEvent, directory: Directory) -> str:
    first = d.get("first")
    said = {True: "Opened for the first time", False: "Opened again"}.get(first, "Opened")
    return said + _share(event)


def _downloaded(d: _Details, event: AuditEvent, directory: Directory) -> str:
    words = "Downloaded"
    channel = d.get("channel")
    if channel:
        words += f" in {str(channel).capitalize()}"
    behalf = d.get("on_behalf_of")
    if behalf is not None:
        words += f" on behalf of {_person(None, behalf, directory)}"
    count = d.get("download")
    if isinstance(count, int):
        words += " for the first time" if count == 1 else f" for the {_ordinal(count)} time"
    return words + _share(event)


# -- signing ------------------------------------------------------------------------------------


def _requested(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id")
    parties = d.get("parties") or []
    words = f"Sent for signature{_request(d)}"
    if parties:
        words += f" to {_and([readable(p) for p in parties])}"
    deciding = [p for p in parties if isinstance(p, Mapping) and p.get("role") in DECIDING_ROLES]
    order = d.get("order")
    if len(deciding) > 1 and order == "sequential":
        words += ", in order"
    elif len(deciding) > 1 and order == "parallel":
        words += ", in any order"
    elif order not in ("sequential", "parallel", None):
        words += f", order {order}"
    return words


def _party_opened(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id", "party_id")
    return f"Opened{_request(d, 'in')} by {d.get('party') or 'a party'}"


_DECIDED = {"signature.signed": "signed", "signature.approved": "approved"}


def _decided(d: _Details, event: AuditEvent, directory: Directory) -> str:
    """A party's decision; a declined request without a party is the request ending."""
    d.told("request_id", "party_id")
    verb = _DECIDED.get(event.action, "declined")
    party = d.get("party")
    if party is None:
        return _ended(d, event, directory)
    role = d.get("role")
    who = f"{party} ({role})" if role else str(party)
    if d.get("on_behalf_of"):
        words = f"{verb.capitalize()}{_request(d)} on behalf of {who}"
    else:
        words = f"{who} {verb}{_request(d, '')}"
    reason = d.get("reason")
    if reason:
        words += f": “{reason}”"
    auth = d.get("auth_level")
    if auth:
        # imported here: completion loads the certificate's fonts and images, which the
        # rest of a history (and the commands that show one) never needs
        from workflows.signing.completion import AUTH_LEVELS

        words += f"; identified by {AUTH_LEVELS.get(str(auth), str(auth))}"
    return words


def _ended(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id")
    status = event.action.removeprefix("signature.")
    words = f"Request{_request(d, '')} {status}"
    reason = d.get("reason")
    return words + (f": “{reason}”" if reason else "")


def _link_issued(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id")
    position = d.get("position")
    party = str(d.get("party") or "a party")
    if position is not None:
        party += f" (party {position})"
    return f"New signing link for {party}{_request(d, 'in')}"


def _completed(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id")
    words = f"Request{_request(d, '')} completed"
    sealed = d.get("sealed")
    if isinstance(sealed, Mapping) and sealed:
        files = [f"{ref} (SHA-256 {readable(sha)})" for ref, sha in sealed.items()]
        words += f", sealed {_and(files)}"
    elif sealed:
        words += f", sealed {readable(sealed)}"
    return words


def _reminded(d: _Details, event: AuditEvent, directory: Directory) -> str:
    d.told("request_id")
    parties = _and([readable(p) for p in d.get("parties") or []]) or "nobody"
    words = f"Reminded {parties} to decide{_request(d, 'on')}"
    send_at = d.get("send_at")
    return words + (f", reminder due {when(send_at, directory.timezone)}" if send_at else "")


# -- words ---------------------------------------------------------------------------------------


def _share(event: AuditEvent) -> str:
    return f" (share {event.share_id})" if event.share_id else ""


def _request(d: _Details, preposition: str | None = None) -> str:
    """' (S-3)' after a verb, or ' in S-3' / ' S-3' with a preposition ('' for none)."""
    ref = d.get("request")
    if not ref:
        return ""
    if preposition is None:
        return f" ({ref})"
    return f" {preposition} {ref}" if preposition else f" {ref}"


def _person(name: Any, recipient_id: Any, directory: Directory) -> str:
    known = directory.people.get(recipient_id) if isinstance(recipient_id, int) else None
    if name:
        label = str(name)
    elif known is not None:
        label = known.name
    else:
        label = "someone" if recipient_id is None else f"recipient {recipient_id}"
    if known is not None and known.email:
        label += f" ({known.email})"
    return label


def _quoted(title: Any) -> str | None:
    return f"“{title}”" if title else None


def _and(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


DESCRIBERS: dict[str, Describer] = {
    "document.added": _added,
    "document.returned": _returned,
    "document.shared": _shared,
    "document.opened": _opened,
    "document.downloaded": _downloaded,
    "link.created": _link_created,
    "link.watched": _link_watched,
    "share.revoked": _revoked,
    "signature.requested": _requested,
    "signature.document_opened": _party_opened,
    "signature.signed": _decided,
    "signature.approved": _decided,
    "signature.declined": _decided,
    "signature.expired": _ended,
    "signature.cancelled": _ended,
    "signature.link_issued": _link_issued,
    "signature.completed": _completed,
    "signature.reminded": _reminded,
}
"""One describer per action that appears in a document's history."""
