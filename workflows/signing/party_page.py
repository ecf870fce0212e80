"""A party's page: what the link behind it shows whoever holds it, in which browser.

A party reaches their page by a link token (only its hash is kept). The page is loaded as
one browser sees it: whether that browser confirmed who decides (`identity`) is part of it.
A visit only looks, and `open_page` reads it in one plain statement (`page_rows`); the
transactions that act on it read it in their own session (`load_page`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Document,
    Organization,
    Party,
    PartyDecision,
    PartyLink,
    PartySession,
    Recipient,
    SignatureRequest,
)
from storage.quick import quick_transaction
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Gone, NotFound
from workflows.outbox.kinds import Via
from workflows.signing import creation, page_rows, requests
from workflows.signing.requests import DECIDING, PENDING, RequestState
from workflows.tokens import hash_token, well_formed

VERBS = {"signer": "sign", "approver": "approve"}


@dataclass(frozen=True)
class PartyPage:
    """Everything the signing page shows one party, and what they may do now."""

    organization: Organization
    state: RequestState
    party: Party
    link: PartyLink
    decider: Recipient | None
    """The colleague deciding in the party's place, when the link was issued to one."""
    contact: Recipient | None
    """Whoever decides through this link, when a recipient: the colleague, else the party."""
    decision: PartyDecision | None
    waiting_for: str | None
    """Whom a sequential request waits for before this party's turn."""
    confirmed_via: str | None = None
    """How whoever holds this browser confirmed who they are (`identity`); None when this
    browser has not, whatever others did."""
    reach: frozenset[str] = frozenset()
    """The channels this installation sends through (`Env.reach`)."""

    @property
    def request(self) -> SignatureRequest:
        return self.state.request

    @property
    def on_behalf(self) -> bool:
        return self.decider is not None

    @property
    def verb(self) -> str | None:
        """``sign`` or ``approve``; None for a viewer."""
        return VERBS.get(self.party.role)

    @property
    def may_decide(self) -> bool:
        return (
            self.request.status == PENDING
            and self.decision is None
            and self.verb is not None
            and self.waiting_for is None
        )

    @property
    def unopened(self) -> list[Document]:
        opened = set(self.party.opened_documents)
        return [d for d in self.state.documents if d.id not in opened]

    @property
    def channels(self) -> list[Via]:
        """The channels whoever decides is known by, the one to prefer first."""
        return creation.channels_of(self.party, self.contact)

    @property
    def code_owed(self) -> bool:
        """Whether a one-time code must confirm who decides: anyone known by a channel
        confirms; a party known only by the link decides on holding it."""
        return bool(self.channels)

    @property
    def code_channel(self) -> Via | None:
        """Where a one-time code can reach whoever decides: the first of their channels this
        installation sends through; None when it sends through none of them, or no code is
        owed."""
        return next((via for via in self.channels if via in self.reach), None)

    @property
    def verified(self) -> bool:
        """Whether this browser confirmed who decides."""
        return self.confirmed_via is not None


async def open_page(env: Env, token: str, *, browser: str | None = None) -> PartyPage:
    """The page behind a party's link as the browser holding the session token ``browser``
    sees it, to look at (its models belong to no session); NotFound for a link that never
    existed."""
    rows = await page_rows.read_page(env.sessions, token, browser=browser, now=env.clock.now())
    if rows is None:
        raise NotFound("this signing link does not exist")
    state = RequestState(
        request=rows.request,
        documents=rows.documents,
        parties=rows.parties,
        decisions=rows.decisions,
        sealed=rows.sealed,
    )
    on_behalf = _issued_to_colleague(rows.link, rows.party)
    return _page(
        organization=rows.organization,
        state=state,
        party=rows.party,
        link=rows.link,
        decider=rows.contact if on_behalf else None,
        contact=rows.contact,
        confirmed_via=rows.confirmed_via,
        reach=env.reach,
    )


async def load_page(
    session: AsyncSession,
    token: str,
    now: datetime,
    *,
    browser: str | None = None,
    reach: frozenset[str] = frozenset(),
) -> PartyPage:
    """`open_page` in the caller's session."""
    if not well_formed(token):
        raise NotFound("this signing link does not exist")
    link = (
        await session.exec(select(PartyLink).where(PartyLink.token_hash == hash_token(token)))
    ).first()
    if link is None:
        raise NotFound("this signing link does not exist")
    party = await session.get(Party, link.party_id)
    assert party is not None
    request = await session.get(SignatureRequest, party.request_id)
    organization = await session.get(Organization, party.org_id)
    assert request is not None and organization is not None
    state = await requests.load_state(session, request)
    decider = recipient = None
    if _issued_to_colleague(link, party):
        decider = await session.get(Recipient, link.recipient_id)
    elif party.recipient_id is not None:
        recipient = await session.get(Recipient, party.recipient_id)
    return _page(
        organization=organization,
        state=state,
        party=party,
        link=link,
        decider=decider,
        contact=decider if decider is not None else recipient,
        confirmed_via=await _confirmed_via(session, party, browser, now),
        reach=reach,
    )


def _issued_to_colleague(link: PartyLink, party: Party) -> bool:
    """Whether ``link`` was issued to a colleague deciding in ``party``'s place."""
    return link.recipient_id is not None and link.recipient_id != party.recipient_id


def _page(
    *,
    organization: Organization,
    state: RequestState,
    party: Party,
    link: PartyLink,
    decider: Recipient | None,
    contact: Recipient | None,
    confirmed_via: str | None,
    reach: frozenset[str],
) -> PartyPage:
    """The page of ``party``, with how its request stands for them."""
    waiting_for = None
    request, decided = state.request, set(state.decisions)
    if party.role in DECIDING and not requests.is_turn(request, party, state.parties, decided):
        ahead = [p for p in state.parties if p.role in DECIDING and p.id not in decided]
        waiting_for = ahead[0].name if ahead else None
    return PartyPage(
        organization=organization,
        state=state,
        party=party,
        link=link,
        decider=decider,
        contact=contact,
        decision=state.decision_of(party),
        waiting_for=waiting_for,
        confirmed_via=confirmed_via,
        reach=reach,
    )


async def _confirmed_via(
    session: AsyncSession, party: Party, browser: str | None, now: datetime
) -> str | None:
    """How the holder of session token ``browser`` confirmed they decide for ``party``;
    None without a live session for this very party."""
    if not browser or not well_formed(browser):
        return None
    found = await session.exec(
        select(PartySession.via).where(
            PartySession.token_hash == hash_token(browser),
            PartySession.party_id == party.id,
            col(PartySession.expires_at) > now,
        )
    )
    return found.first()


async def document_of(env: Env, token: str, document_id: int) -> Document:
    """One document of the party's request, for its preview or download."""
    page = await open_page(env, token)
    for document in page.state.documents:
        if document.id == document_id:
            return document
    raise NotFound(f"document {document_id} is not part of this request")


async def record_opened(env: Env, token: str, document_id: int, *, actor: Actor) -> None:
    """Note that the party opened a document of their request (once per document)."""
    now = env.clock.now()
    async with quick_transaction(env.sessions) as session:
        page = await load_page(session, token, now)
        if document_id not in {d.id for d in page.state.documents}:
            raise NotFound(f"document {document_id} is not part of this request")
        party = page.party
        if document_id in party.opened_documents:
            return
        party.opened_documents = [*party.opened_documents, document_id]
        session.add(party)
        await audit.record(
            session,
            org_id=party.org_id,
            actor=actor,
            action="signature.document_opened",
            at=now,
            document_id=document_id,
            details={"request": page.request.ref, "party": party.name, "party_id": party.id},
        )


def party_actor(page: PartyPage, *, ip: str | None, user_agent: str | None) -> Actor:
    """The audit actor for whoever holds this party's link."""
    if page.decider is not None:
        who = f"{page.decider.name} for {page.party.name}"
        return Actor(type="recipient", id=str(page.decider.id), label=who).with_request(
            ip=ip, user_agent=user_agent
        )
    kind = "recipient" if page.party.recipient_id is not None else "party"
    ident = page.party.recipient_id if page.party.recipient_id is not None else page.party.id
    return Actor(type=kind, id=str(ident), label=page.party.name).with_request(
        ip=ip, user_agent=user_agent
    )


def check_open(page: PartyPage, now: datetime) -> None:
    """Refuse anything but looking once the request is over."""
    request = page.request
    if request.status != PENDING:
        raise Gone(
            f"this request is {request.status}", says=f"signing.refusal.ended.{request.status}"
        )
    if request.expires_at is not None and request.expires_at <= now:
        raise Gone("this request has expired", says="signing.refusal.ended.expired")
