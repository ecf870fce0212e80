"""Signature requests as staff write them: parties typed as text, and every problem of a
form found before anything is created.

A person outside the system is written ``Name <email>``, ``Name, +46 70 123 45 67`` or
``Name, @telegram_user`` (more contacts may follow, separated by commas:
``Anna Berg <anna@firm.test>, +46 70 123 45 67``). The CLI takes one such party per
option; a form takes one per line, each with an optional ``signer:``, ``approver:`` or
``viewer:`` in front. `signing.create_request` checks everything again when it writes;
the checks here exist so a form can show each refusal on the field that caused it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import col, select

from storage.models import Document, Recipient
from workflows.context import Env
from workflows.documents import filing
from workflows.errors import InvalidInput, WorkflowError
from workflows.media import PDF
from workflows.people.organizations import check_email
from workflows.people.recipients import can_receive, check_phone
from workflows.scope import clean_text
from workflows.sharing import targets
from workflows.sharing.targets import AcrossClients
from workflows.signing.creation import NewParty
from workflows.signing.requests import ROLES

FORMATS = "“Name <email>”, “Name, +phone” or “Name, @telegram”"
BRACKETED = re.compile(r"^(?P<name>[^<>]*)<(?P<email>[^<>]*)>$")
ROLE_PREFIX = re.compile(r"^\s*(?P<role>[A-Za-z]+)\s*:(?P<rest>.*)$")
TELEGRAM_USERNAME = re.compile(r"^[A-Za-z0-9_]{5,32}$")
MAX_LINE_SHOWN = 40


def parse_contact(text: str, *, role: str) -> NewParty:
    """One ad-hoc party from ``Name <email>``, ``Name, +phone`` or ``Name, @telegram``."""
    head, *contacts = [part.strip() for part in text.strip().split(",")]
    email: str | None = None
    name = head
    bracketed = BRACKETED.match(head)
    if bracketed:
        name, email = bracketed["name"].strip(), bracketed["email"].strip()
        if not email:
            raise InvalidInput("the angle brackets hold no email address")
    elif "<" in head or ">" in head:
        raise InvalidInput("write the email in angle brackets after the name: Name <email>")
    if not name or "@" in name:
        raise InvalidInput(f"start with the person's name, then a contact: {FORMATS}")
    phone: str | None = None
    username: str | None = None
    for contact in contacts:
        kind = _kind_of(contact)
        if kind == "email":
            email = _once(email, contact, "email address")
        elif kind == "telegram":
            username = _once(username, contact.removeprefix("@"), "Telegram username")
        else:
            phone = _once(phone, contact, "phone number")
    if not (email or phone or username):
        raise InvalidInput(f"give {name}'s email, phone or Telegram username: {FORMATS}")
    if username is not None and not TELEGRAM_USERNAME.match(username):
        raise InvalidInput(f"'@{username}' is not a Telegram username")
    return NewParty(
        role=role,
        name=clean_text(name, what="a party's name", max_len=200),
        email=check_email(email),
        phone=check_phone(phone),
        telegram_username=username,
    )


def _kind_of(contact: str) -> str:
    if not contact:
        raise InvalidInput(f"a contact is missing between two commas; write {FORMATS}")
    if contact.startswith("@"):
        return "telegram"
    if "@" in contact:
        return "email"
    if contact[0] in "+(" or contact[0].isdigit():
        return "phone"
    raise InvalidInput(
        f"'{contact}' is not an email address, a phone number (+46…) or a Telegram @username"
    )


def _once(current: str | None, value: str, what: str) -> str:
    if current is not None:
        raise InvalidInput(f"give one {what} per person, not '{current}' and '{value}'")
    return value


@dataclass
class People:
    """Ad-hoc parties read from lines of text, and the lines that could not be read."""

    parties: list[NewParty] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def parse_people(text: str, *, default_role: str = "signer") -> People:
    """One party per non-empty line, ``signer:``/``approver:``/``viewer:`` in front or
    ``default_role``; each problem names its line."""
    people = People()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            role, contact = _role_and_contact(line, default_role)
            people.parties.append(parse_contact(contact, role=role))
        except InvalidInput as error:
            people.problems.append(f"line {number} “{_shown(line)}”: {error}")
    return people


def _role_and_contact(line: str, default_role: str) -> tuple[str, str]:
    prefixed = ROLE_PREFIX.match(line)
    if prefixed is None:
        return default_role, line
    role = prefixed["role"].lower()
    if role not in ROLES:
        raise InvalidInput(
            f"'{prefixed['role']}:' is not a role; use signer:, approver: or viewer:"
        )
    return role, prefixed["rest"]


def _shown(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE_SHOWN else line[: MAX_LINE_SHOWN - 1] + "…"


@dataclass
class Signable:
    """The documents a form names, and why any of them cannot be signed."""

    documents: list[Document] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


async def signable_documents(env: Env, *, org_id: int, refs: Sequence[str]) -> Signable:
    """The organisation's documents named by ``refs``; unknown ones and anything but a PDF
    are problems."""
    found = Signable()
    for ref in dict.fromkeys(refs):
        try:
            document = await filing.find_document(env, org_id=org_id, ref=ref)
        except WorkflowError as error:
            found.problems.append(str(error))
            continue
        if document.media_type != PDF:
            found.problems.append(f"{document.ref} is not a PDF; only PDFs can be signed")
        else:
            found.documents.append(document)
    return found


async def recipient_problems(
    env: Env, *, org_id: int, recipient_ids: Sequence[int]
) -> dict[int, str]:
    """Why each of these recipients cannot be a party now (unknown to the organisation,
    blocked, removed, access ended); the others are left out."""
    now = env.clock.now()
    async with env.reads() as session:
        rows = await session.exec(
            select(Recipient).where(
                Recipient.org_id == org_id, col(Recipient.id).in_(list(recipient_ids))
            )
        )
        known = {r.id: r for r in rows.all()}
    problems: dict[int, str] = {}
    for recipient_id in recipient_ids:
        recipient = known.get(recipient_id)
        refusal = (
            f"recipient {recipient_id} not found"
            if recipient is None
            else can_receive(recipient, now)
        )
        if refusal:
            problems[recipient_id] = refusal
    return problems


async def people_elsewhere(
    env: Env, *, org_id: int, documents: Sequence[Document], recipient_ids: Sequence[int]
) -> dict[int, str]:
    """Why each of these recipients, a person of another client than a document's, may be
    a party only when staff send the documents across clients on purpose."""
    found: dict[int, str] = {}
    async with env.reads() as session:
        for recipient_id in recipient_ids:
            person = await session.get(Recipient, recipient_id)
            if person is None or person.org_id != org_id:
                continue
            try:
                await targets.people_elsewhere(
                    session, documents=documents, recipients=[person], across_clients=False
                )
            except AcrossClients as e:
                found[recipient_id] = str(e)
    return found
