"""CLI commands that give access to a document: share, link, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from inkpost.cli.context import (
    DATE_HELP,
    DocRef,
    JsonOption,
    OrgScope,
    When,
    ending,
    in_org,
    named,
    named_option,
    settings_of,
    when_option,
)
from inkpost.cli.output import Column, emit_json, say
from inkpost.errors import UserError
from storage.models import Document, Share
from storage.rows import id_of
from workflows.documents import filing
from workflows.sharing import links, sharing
from workflows.sharing.targets import AcrossClients

SHARE_COLUMNS = (
    Column("id", "Share", "right"),
    Column("kind", "Kind"),
    Column("target", "With"),
    Column("created_at", "Created"),
    Column("expires_at", "Expires"),
    Column("downloads", "Downloads", "right"),
    Column("state", "State"),
)


def share_row(share: Share, now: datetime) -> dict[str, Any]:
    if share.kind == "recipient":
        target = f"recipient {share.recipient_id}"
    elif share.kind == "space":
        target = f"space {share.space_id}" if share.space_id else "deleted space"
    else:
        target = "anyone with the link"
    if share.revoked_at is not None:
        state = "revoked"
    elif share.expires_at is not None and share.expires_at <= now:
        state = "expired"
    elif share.max_downloads is not None and share.download_count >= share.max_downloads:
        state = "used up"
    else:
        state = "active"
    limit = "" if share.max_downloads is None else f"/{share.max_downloads}"
    return {
        "id": share.id,
        "kind": share.kind,
        "target": target,
        "recipient_id": share.recipient_id,
        "space_id": share.space_id,
        "group_id": share.group_id,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "max_downloads": share.max_downloads,
        "download_count": share.download_count,
        "downloads": f"{share.download_count}{limit}",
        "open_count": share.open_count,
        "first_opened_at": share.first_opened_at,
        "revoked_at": share.revoked_at,
        "state": state,
    }


def link_url(ctx: typer.Context, token: str | None) -> str | None:
    return f"{settings_of(ctx).public_url.rstrip('/')}/d/{token}" if token else None


def share(
    ctx: typer.Context,
    *,
    ref: DocRef,
    recipient: Annotated[
        str | None, named_option("--recipient", "recipient", "Share with this recipient")
    ] = None,
    group: Annotated[
        str | None, named_option("--group", "group", "Share with every member of this group")
    ] = None,
    space: Annotated[str | None, named_option("--space", "space", "Share with this space")] = None,
    expires: Annotated[
        When | None, when_option("--expires", f"When the share ends: {DATE_HELP}.")
    ] = None,
    message: Annotated[str | None, typer.Option(help="A note for the recipients.")] = None,
    across_clients: Annotated[
        bool,
        typer.Option(
            "--across-clients",
            help="Share on purpose with people of another client than the document's "
            "(recorded in its history).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Share a document with a recipient, a group or a space (exactly one of them). A
    document goes only to its own client's people unless --across-clients says so."""
    targets = [t for t in (recipient, group, space) if t is not None]
    if len(targets) != 1:
        raise UserError("name exactly one of --recipient, --group or --space")

    async def work(scope: OrgScope) -> tuple[str, list[sharing.ShareResult], list[str]]:
        env, org_id, actor = scope.env, scope.org_id, scope.actor
        terms = sharing.ShareTerms(
            expires_at=ending(expires, scope), message=message, across_clients=across_clients
        )
        document = await filing.find_document(env, org_id=org_id, ref=ref)
        doc_id, shared = id_of(document), document.ref
        if recipient is not None:
            one = await sharing.share_with_recipient(
                env,
                org_id=org_id,
                actor=actor,
                document_id=doc_id,
                recipient_id=await named(scope, "recipient", recipient),
                terms=terms,
            )
            return shared, [one], []
        if group is not None:
            many = await sharing.share_with_group(
                env,
                org_id=org_id,
                actor=actor,
                document_id=doc_id,
                group_id=await named(scope, "group", group),
                terms=terms,
            )
            return shared, many.shares, many.skipped
        assert space is not None
        spaced = await sharing.share_with_space(
            env,
            org_id=org_id,
            actor=actor,
            document_id=doc_id,
            space_id=await named(scope, "space", space),
            terms=terms,
        )
        return shared, [spaced.share], spaced.skipped

    async def checked(scope: OrgScope) -> tuple[str, list[sharing.ShareResult], list[str]]:
        try:
            return await work(scope)
        except AcrossClients as e:
            raise AcrossClients(f"{e}; add --across-clients to share it anyway") from e

    shared, results, skipped = in_org(ctx, checked)
    rows = [
        {
            "share_id": r.share.id,
            "kind": r.share.kind,
            "recipient_id": r.share.recipient_id,
            "space_id": r.share.space_id,
            "created": r.created,
            "expires_at": r.share.expires_at,
            "url": link_url(ctx, r.token),
        }
        for r in results
    ]
    if as_json:
        emit_json({"document": shared, "shares": rows, "skipped": skipped})
        return
    for row in rows:
        target = (
            f"recipient {row['recipient_id']}"
            if row["kind"] == "recipient"
            else f"space {row['space_id']}"
        )
        if row["created"]:
            say(f"Shared with {target} (share {row['share_id']}).")
            if row["url"]:
                kind = "personal" if row["kind"] == "recipient" else "space"
                say(f"  {kind} link: {row['url']}")
        else:
            say(f"Already shared with {target} (share {row['share_id']}); nothing changed.")
    for reason in skipped:
        say(f"Skipped: {reason}.")


def link(
    ctx: typer.Context,
    *,
    ref: DocRef,
    expires: Annotated[
        When | None, when_option("--expires", f"When the link ends: {DATE_HELP}.")
    ] = None,
    max_downloads: Annotated[
        int | None,
        typer.Option("--max-downloads", metavar="N", help="How many downloads it allows."),
    ] = None,
    message: Annotated[str | None, typer.Option(help="A note shown with the document.")] = None,
    tell_me_if_unused: Annotated[
        bool,
        typer.Option(
            "--tell-me-if-unused",
            help="Tell staff if the link expires with nobody having opened it (needs --expires).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a public link to a document and print its URL."""
    if tell_me_if_unused and expires is None:
        raise UserError(
            "--tell-me-if-unused needs --expires: a link that never expires cannot expire unused"
        )

    async def work(scope: OrgScope) -> tuple[Document, sharing.ShareResult]:
        document = await filing.find_document(scope.env, org_id=scope.org_id, ref=ref)
        result = await links.create_link(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            document_id=id_of(document),
            terms=sharing.ShareTerms(expires_at=ending(expires, scope), message=message),
            max_downloads=max_downloads,
            notify_unused=tell_me_if_unused,
        )
        return document, result

    document, result = in_org(ctx, work)
    url = link_url(ctx, result.token)
    if as_json:
        emit_json(
            {
                "document": document.ref,
                "share_id": result.share.id,
                "url": url,
                "expires_at": result.share.expires_at,
                "max_downloads": result.share.max_downloads,
                "notify_unused_expiry": result.share.notify_unused_expiry,
            }
        )
        return
    until = result.share.expires_at
    ends = f"{until:%Y-%m-%d %H:%M} UTC" if until else "never"
    downloads = "unlimited" if max_downloads is None else str(max_downloads)
    say(
        f"Link to {document.ref} “{document.title}” (share {result.share.id}; expires {ends}; "
        f"downloads {downloads}):"
    )
    say(str(url))
    if tell_me_if_unused:
        say("Staff will be told if it expires with nobody having opened it.")


def revoke(
    ctx: typer.Context,
    share_id: Annotated[
        int, typer.Argument(help="The share's id (see `documents show DOC`).", show_default=False)
    ],
) -> None:
    """Revoke a share or a link: it opens nothing from now on."""

    async def work(scope: OrgScope) -> Share:
        return await sharing.revoke_share(
            scope.env, org_id=scope.org_id, actor=scope.actor, share_id=share_id
        )

    revoked = in_org(ctx, work)
    say(f"Revoked share {revoked.id} ({revoked.kind}).")
