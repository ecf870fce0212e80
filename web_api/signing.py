"""Signature requests: start one with parties, roles and order; see each party's state;
cancel, remind, get a party's link; download the sealed PDFs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, model_validator
from sqlmodel import select

from storage.models import Document, Party, RequestDocument, SignatureRequest
from web_api.models import Body, ListQuery, next_cursor
from web_api.pagination import decode_cursor
from web_api.problems import CONFLICT, GONE, INVALID, TOO_MANY_TRIES
from web_api.registry import Call, Download, Operation
from workflows.errors import Conflict, NotFound
from workflows.listing import page_of
from workflows.scope import get_scoped
from workflows.signing import creation, party_reminders, requests
from workflows.signing.requests import MAX_DOCUMENTS, MAX_PARTIES, RequestState

MAX_ID = 2**31 - 1
Role = Literal["signer", "approver", "viewer"]
Status = Literal["pending", "sealing", "completed", "declined", "expired", "cancelled"]


class PartyIn(Body):
    """A recipient (``recipient_id``), or a person by ``name`` and a way to reach them."""

    role: Role
    recipient_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)
    language: Literal["en", "pl", "ru", "sv"] | None = None

    @model_validator(mode="after")
    def _who(self) -> PartyIn:
        if (self.recipient_id is None) == (self.name is None):
            raise ValueError("give either recipient_id or name (with email or phone)")
        return self


class NewSignatureRequest(Body):
    document_ids: list[int] = Field(min_length=1, max_length=MAX_DOCUMENTS)
    parties: list[PartyIn] = Field(
        min_length=1, max_length=MAX_PARTIES, description="In signing order."
    )
    order: Literal["parallel", "sequential"] = "parallel"
    expires_at: AwareDatetime | None = None
    message: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    across_clients: bool = False


class PartyOut(BaseModel):
    position: int
    role: str
    name: str
    recipient_id: int | None
    state: Literal["waiting", "invited", "opened", "signed", "approved", "declined", "viewer"]
    decided_at: datetime | None
    reason: str | None = Field(description="Why they declined, if they did.")
    link: str | None = Field(
        default=None, description="Their page: given only when the request is made."
    )


class SealedOut(BaseModel):
    document_id: int = Field(description="The original document.")
    sealed_document_id: int
    sha256: str = Field(description="The SHA-256 of the sealed PDF, in hex.")


class SignatureRequestOut(BaseModel):
    id: int
    ref: str = Field(description="The short reference staff use, like S-4.")
    title: str
    status: Status
    order: Literal["parallel", "sequential"]
    document_ids: list[int]
    parties: list[PartyOut]
    sealed: list[SealedOut]
    expires_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, state: RequestState, links: dict[int, str] | None = None) -> SignatureRequestOut:
        request = state.request
        assert request.id is not None
        return cls(
            id=request.id,
            ref=request.ref,
            title=request.title,
            status=request.status,
            order="sequential" if request.signing_order == "sequential" else "parallel",
            document_ids=[d.id for d in state.documents if d.id is not None],
            parties=[_party(state, p, (links or {}).get(p.position)) for p in state.parties],
            sealed=[
                SealedOut(document_id=original, sealed_document_id=sealed.id, sha256=sealed.sha256)
                for original, sealed in state.sealed.items()
                if sealed.id is not None
            ],
            expires_at=request.expires_at,
            created_at=request.created_at,
        )


def _party(state: RequestState, party: Party, link: str | None) -> PartyOut:
    decision = state.decision_of(party)
    state_name: Any
    if decision is not None:
        state_name = decision.decision
    elif party.role == "viewer":
        state_name = "viewer"
    elif party.opened_documents:
        state_name = "opened"
    elif party.invited_at is not None:
        state_name = "invited"
    else:
        state_name = "waiting"
    return PartyOut(
        position=party.position,
        role=party.role,
        name=party.name,
        recipient_id=party.recipient_id,
        state=state_name,
        decided_at=decision.decided_at if decision else None,
        reason=decision.reason if decision else None,
        link=link,
    )


class RequestSummary(BaseModel):
    id: int
    ref: str
    title: str
    status: Status
    created_at: datetime

    @classmethod
    def of(cls, request: SignatureRequest) -> RequestSummary:
        assert request.id is not None
        return cls(
            id=request.id,
            ref=request.ref,
            title=request.title,
            status=request.status,
            created_at=request.created_at,
        )


class RequestPage(BaseModel):
    items: list[RequestSummary]
    next_cursor: str | None


class RequestQuery(ListQuery):
    status: Status | None = None


class Cancellation(Body):
    reason: str | None = Field(default=None, max_length=2000)


class Reminder(Body):
    position: int | None = Field(
        default=None, ge=1, le=MAX_PARTIES, description="One party; default: all undecided."
    )


class Reminded(BaseModel):
    position: int
    name: str
    send_at: datetime


class RemindedOut(BaseModel):
    reminded: list[Reminded]


class PartyLinkOut(BaseModel):
    position: int
    url: str


async def create_request(call: Call[Any]) -> SignatureRequestOut:
    body: NewSignatureRequest = call.body
    created = await creation.create_request(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        staff_id=None,
        new=creation.NewRequest(
            document_ids=body.document_ids,
            parties=[
                creation.NewParty(
                    role=p.role,
                    recipient_id=p.recipient_id,
                    name=p.name,
                    email=p.email,
                    phone=p.phone,
                    language=p.language,
                )
                for p in body.parties
            ],
            order=body.order,
            expires_at=body.expires_at,
            message=body.message,
            title=body.title,
            across_clients=body.across_clients,
        ),
    )
    links = {r.party.position: f"{call.public_url}/s/{r.token}" for r in created.parties}
    state = await requests.request_state(call.env, org_id=call.org_id, ref=created.request.ref)
    return SignatureRequestOut.of(state, links)


async def _request(call: Call[Any]) -> SignatureRequest:
    async with call.env.reads() as session:
        return await get_scoped(
            session,
            SignatureRequest,
            org_id=call.org_id,
            id=call.ids["request_id"],
            what="signature request",
        )


async def get_request(call: Call[Any]) -> SignatureRequestOut:
    request = await _request(call)
    state = await requests.request_state(call.env, org_id=call.org_id, ref=request.ref)
    return SignatureRequestOut.of(state)


async def list_requests(call: Call[Any]) -> RequestPage:
    query: RequestQuery = call.query
    where = [SignatureRequest.status == query.status] if query.status else []
    page = await page_of(
        call.env,
        SignatureRequest,
        org_id=call.org_id,
        where=where,
        after=decode_cursor(query.cursor),
        limit=query.limit,
    )
    return RequestPage(
        items=[RequestSummary.of(r) for r in page.rows], next_cursor=next_cursor(page)
    )


async def cancel_request(call: Call[Any]) -> SignatureRequestOut:
    body: Cancellation = call.body
    request = await _request(call)
    await requests.cancel_request(
        call.env, org_id=call.org_id, actor=call.actor, ref=request.ref, reason=body.reason
    )
    state = await requests.request_state(call.env, org_id=call.org_id, ref=request.ref)
    return SignatureRequestOut.of(state)


async def remind(call: Call[Any]) -> RemindedOut:
    body: Reminder = call.body
    request = await _request(call)
    reminded = await party_reminders.remind_now(
        call.env, org_id=call.org_id, actor=call.actor, ref=request.ref, position=body.position
    )
    return RemindedOut(
        reminded=[
            Reminded(position=r.party.position, name=r.party.name, send_at=r.send_at)
            for r in reminded
        ]
    )


async def party_link(call: Call[Any]) -> PartyLinkOut:
    request = await _request(call)
    position = call.ids["position"]
    made = await requests.staff_link(
        call.env, org_id=call.org_id, actor=call.actor, ref=request.ref, position=position
    )
    return PartyLinkOut(position=position, url=f"{call.public_url}/s/{made.token}")


async def sealed_file(call: Call[Any]) -> Download:
    request = await _request(call)
    document_id = call.ids["document_id"]
    async with call.env.reads() as session:
        link = (
            await session.exec(
                select(RequestDocument).where(
                    RequestDocument.request_id == request.id,
                    RequestDocument.document_id == document_id,
                )
            )
        ).first()
        if link is None:
            raise NotFound(f"{request.ref} has no document {document_id}")
        if link.sealed_document_id is None:
            raise Conflict(f"{request.ref} is {request.status}: its documents are not sealed")
        sealed = await get_scoped(
            session, Document, org_id=call.org_id, id=link.sealed_document_id, what="document"
        )
    return Download(
        blob_key=sealed.blob_key,
        filename=sealed.filename,
        media_type=sealed.media_type,
        size=sealed.size,
    )


def operations() -> list[Operation]:
    base = "/signature-requests"
    return [
        Operation(
            method="POST",
            path=base,
            operation_id="createSignatureRequest",
            summary="Send documents to parties to sign, approve or view",
            tag="signature-requests",
            scope="sign",
            handler=create_request,
            body=NewSignatureRequest,
            response=SignatureRequestOut,
            status=201,
            problems=(CONFLICT, GONE, INVALID),
        ),
        Operation(
            method="GET",
            path=base,
            operation_id="listSignatureRequests",
            summary="List signature requests, newest first",
            tag="signature-requests",
            scope="read",
            handler=list_requests,
            query=RequestQuery,
            response=RequestPage,
        ),
        Operation(
            method="GET",
            path=base + "/{request_id}",
            operation_id="getSignatureRequest",
            summary="Get a request's status, with each party's state",
            tag="signature-requests",
            scope="read",
            handler=get_request,
            response=SignatureRequestOut,
        ),
        Operation(
            method="POST",
            path=base + "/{request_id}/cancel",
            operation_id="cancelSignatureRequest",
            summary="Cancel a pending request",
            tag="signature-requests",
            scope="sign",
            handler=cancel_request,
            body=Cancellation,
            response=SignatureRequestOut,
            problems=(CONFLICT,),
        ),
        Operation(
            method="POST",
            path=base + "/{request_id}/remind",
            operation_id="remindSignatureRequest",
            summary="Remind one party, or every party still to decide",
            tag="signature-requests",
            scope="sign",
            handler=remind,
            body=Reminder,
            response=RemindedOut,
            problems=(CONFLICT, TOO_MANY_TRIES),
        ),
        Operation(
            method="POST",
            path=base + "/{request_id}/parties/{position}/link",
            operation_id="createPartyLink",
            summary="A fresh link to a party's page, to pass on by any medium",
            tag="signature-requests",
            scope="sign",
            handler=party_link,
            response=PartyLinkOut,
            problems=(CONFLICT,),
        ),
        Operation(
            method="GET",
            path=base + "/{request_id}/documents/{document_id}/sealed",
            operation_id="downloadSealedDocument",
            summary="Download the sealed PDF of one of a completed request's documents",
            tag="signature-requests",
            scope="read",
            handler=sealed_file,
            binary="application/pdf",
            problems=(CONFLICT,),
        ),
    ]
