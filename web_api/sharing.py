"""Shares and links of a document: share with a recipient, a group or a space, create a
public link, list them, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from storage.models import Document, Share
from web_api.models import Body, ListQuery, next_cursor
from web_api.pagination import decode_cursor
from web_api.problems import CONFLICT, GONE, INVALID
from web_api.registry import Call, Operation
from workflows.listing import page_of
from workflows.scope import get_scoped
from workflows.sharing import links, sharing
from workflows.sharing.sharing import ShareResult, ShareRow, ShareTerms

MAX_ID = 2**31 - 1


class ShareOut(BaseModel):
    id: int
    document_id: int
    kind: str = Field(description="recipient, space or link.")
    recipient_id: int | None
    group_id: int | None
    space_id: int | None
    expires_at: datetime | None
    max_downloads: int | None
    revoked_at: datetime | None = None
    url: str | None = Field(
        default=None, description="The link to the document: given only when it is made."
    )

    @classmethod
    def of_row(cls, row: ShareRow, *, url: str | None = None) -> ShareOut:
        return cls(
            id=row.id,
            document_id=row.document_id,
            kind=row.kind,
            recipient_id=row.recipient_id,
            group_id=row.group_id,
            space_id=row.space_id,
            expires_at=row.expires_at,
            max_downloads=row.max_downloads,
            url=url,
        )

    @classmethod
    def of(cls, share: Share) -> ShareOut:
        assert share.id is not None
        return cls(
            id=share.id,
            document_id=share.document_id,
            kind=share.kind,
            recipient_id=share.recipient_id,
            group_id=share.group_id,
            space_id=share.space_id,
            expires_at=share.expires_at,
            max_downloads=share.max_downloads,
            revoked_at=share.revoked_at,
        )


class SharePage(BaseModel):
    items: list[ShareOut]
    next_cursor: str | None


class SharesMade(BaseModel):
    shares: list[ShareOut]
    skipped: list[str] = Field(description="Who was not shared with, and why.")


class NewShare(Body):
    """Exactly one of ``recipient_id``, ``group_id`` and ``space_id``."""

    recipient_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    group_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    space_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    expires_at: AwareDatetime | None = None
    message: str | None = Field(default=None, max_length=2000)
    across_clients: bool = Field(
        default=False, description="Share on purpose with people of another client."
    )

    @model_validator(mode="after")
    def _one_target(self) -> NewShare:
        named = [self.recipient_id, self.group_id, self.space_id]
        if sum(target is not None for target in named) != 1:
            raise ValueError("name exactly one of recipient_id, group_id and space_id")
        return self


class NewLink(Body):
    expires_at: AwareDatetime | None = None
    max_downloads: int | None = Field(default=None, ge=1, le=1_000_000)
    message: str | None = Field(default=None, max_length=2000)


def _url(call: Call[Any], result: ShareResult) -> str | None:
    if result.token is None:
        return None
    return f"{call.public_url}/d/{result.token}"


async def share_document(call: Call[Any]) -> SharesMade:
    body: NewShare = call.body
    document_id = call.ids["document_id"]
    terms = ShareTerms(
        expires_at=body.expires_at, message=body.message, across_clients=body.across_clients
    )
    common: dict[str, Any] = {
        "org_id": call.org_id,
        "actor": call.actor,
        "document_id": document_id,
        "terms": terms,
    }
    if body.recipient_id is not None:
        made = await sharing.share_with_recipient(
            call.env, recipient_id=body.recipient_id, **common
        )
        return SharesMade(shares=[ShareOut.of_row(made.share, url=_url(call, made))], skipped=[])
    if body.group_id is not None:
        group = await sharing.share_with_group(call.env, group_id=body.group_id, **common)
        return SharesMade(
            shares=[ShareOut.of_row(r.share, url=_url(call, r)) for r in group.shares],
            skipped=list(group.skipped),
        )
    assert body.space_id is not None
    space = await sharing.share_with_space(call.env, space_id=body.space_id, **common)
    return SharesMade(
        shares=[ShareOut.of_row(space.share.share, url=_url(call, space.share))],
        skipped=list(space.skipped),
    )


async def create_link(call: Call[Any]) -> ShareOut:
    body: NewLink = call.body
    made = await links.create_link(
        call.env,
        org_id=call.org_id,
        actor=call.actor,
        document_id=call.ids["document_id"],
        terms=ShareTerms(expires_at=body.expires_at, message=body.message),
        max_downloads=body.max_downloads,
    )
    return ShareOut.of_row(made.share, url=_url(call, made))


async def list_shares(call: Call[Any]) -> SharePage:
    query: ListQuery = call.query
    document_id = call.ids["document_id"]
    async with call.env.reads() as session:
        await get_scoped(session, Document, org_id=call.org_id, id=document_id, what="document")
    page = await page_of(
        call.env,
        Share,
        org_id=call.org_id,
        where=[Share.document_id == document_id],
        after=decode_cursor(query.cursor),
        limit=query.limit,
    )
    return SharePage(items=[ShareOut.of(s) for s in page.rows], next_cursor=next_cursor(page))


async def revoke_share(call: Call[Any]) -> ShareOut:
    async with call.env.reads() as session:
        share = await get_scoped(
            session, Share, org_id=call.org_id, id=call.ids["share_id"], what="share"
        )
        # the document decides what a walled key sees; a share of a hidden one is not there
        await get_scoped(session, Document, org_id=call.org_id, id=share.document_id, what="share")
    revoked = await sharing.revoke_share(
        call.env, org_id=call.org_id, actor=call.actor, share_id=call.ids["share_id"]
    )
    return ShareOut.of(revoked)


def operations() -> list[Operation]:
    return [
        Operation(
            method="POST",
            path="/documents/{document_id}/shares",
            operation_id="shareDocument",
            summary="Share a document with a recipient, a group or a space",
            tag="shares",
            scope="write",
            handler=share_document,
            body=NewShare,
            response=SharesMade,
            status=201,
            problems=(CONFLICT, GONE, INVALID),
        ),
        Operation(
            method="POST",
            path="/documents/{document_id}/links",
            operation_id="createLink",
            summary="Create a public link to a document",
            tag="shares",
            scope="write",
            handler=create_link,
            body=NewLink,
            response=ShareOut,
            status=201,
            problems=(CONFLICT, GONE, INVALID),
        ),
        Operation(
            method="GET",
            path="/documents/{document_id}/shares",
            operation_id="listShares",
            summary="List a document's shares and links, newest first",
            tag="shares",
            scope="read",
            handler=list_shares,
            query=ListQuery,
            response=SharePage,
        ),
        Operation(
            method="POST",
            path="/shares/{share_id}/revoke",
            operation_id="revokeShare",
            summary="Revoke a share or a link: it opens nothing from now on",
            tag="shares",
            scope="write",
            handler=revoke_share,
            response=ShareOut,
            problems=(CONFLICT,),
        ),
    ]
