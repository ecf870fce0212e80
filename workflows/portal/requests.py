"""Signature requests in the portal: what waits for the recipient's decision, and what they
decided or saw completed (with the sealed PDFs on its page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from storage.models import Party, PartyDecision, SignatureRequest
from storage.rows import id_of
from workflows.context import Env
from workflows.errors import NotFound
from workflows.portal.sessions import Portal
from workflows.signing import deciding
from workflows.signing.requests import CANCELLED, DECIDING, PENDING, is_turn

SHOWN = 50
"""Requests of each kind listed; a recipient with more finds the older ones in their mail."""
PORTAL = "portal"
"""What a party link opened from the portal is issued for."""


@dataclass(frozen=True)
class RequestItem:
    party_id: int
    request: SignatureRequest
    role: str
    decision: str | None
    """signed, approved or declined, once this party decided."""
    your_turn: bool
    """Waiting for this recipient's decision now (in order, their turn has come)."""

    @property
    def expires_at(self) -> datetime | None:
        return self.request.expires_at


@dataclass(frozen=True)
class Requests:
    waiting: list[RequestItem]
    """Pending requests this recipient is to decide now, soonest deadline first."""
    others: list[RequestItem]
    """The rest, newest first: decided, waiting for others, completed, ended."""


async def requests_of(env: Env, portal: Portal) -> Requests:
    """The requests naming the recipient as a party (not cancelled ones)."""
    now = env.clock.now()
    async with env.reads() as session:
        rows = (
            await session.exec(
                select(Party, SignatureRequest)
                .join(SignatureRequest, col(SignatureRequest.id) == Party.request_id)
                .where(
                    Party.org_id == portal.org_id,
                    Party.recipient_id == id_of(portal.recipient),
                    SignatureRequest.status != CANCELLED,
                )
                .order_by(col(SignatureRequest.id).desc())
                .limit(SHOWN * 2)
            )
        ).all()
        request_ids = {r.id for _, r in rows}
        everyone = (
            await session.exec(
                select(Party)
                .where(col(Party.request_id).in_(request_ids))
                .order_by(col(Party.position))
            )
        ).all()
        decisions = {
            d.party_id: d.decision
            for d in (
                await session.exec(
                    select(PartyDecision).where(col(PartyDecision.request_id).in_(request_ids))
                )
            ).all()
        }
    waiting: list[RequestItem] = []
    others: list[RequestItem] = []
    for party, request in rows:
        parties = [p for p in everyone if p.request_id == request.id]
        decided = set(decisions)
        open_now = request.status == PENDING and (
            request.expires_at is None or request.expires_at > now
        )
        your_turn = (
            open_now
            and party.role in DECIDING
            and party.id not in decisions
            and is_turn(request, party, parties, decided)
        )
        item = RequestItem(
            party_id=id_of(party),
            request=request,
            role=party.role,
            decision=decisions.get(id_of(party)),
            your_turn=your_turn,
        )
        (waiting if your_turn else others).append(item)
    waiting.sort(key=lambda i: (i.expires_at is None, i.expires_at or now))
    return Requests(waiting[:SHOWN], others[:SHOWN])


async def open_request(env: Env, portal: Portal, *, party_id: int) -> str:
    """A fresh link to the signing page of one of the recipient's parties; another
    person's party is not found."""
    async with env.reads() as session:
        party = await session.get(Party, party_id)
        request = await session.get(SignatureRequest, party.request_id) if party else None
    mine = party is not None and party.recipient_id == id_of(portal.recipient)
    if not mine or request is None or request.status == CANCELLED:
        raise NotFound("this request is not among yours")
    return await deciding.link_for_recipient(
        env, party_id=party_id, recipient_id=id_of(portal.recipient), via=PORTAL
    )
