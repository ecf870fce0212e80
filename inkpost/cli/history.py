"""`inkpost history`: a document's timeline, each event in a sentence."""

from __future__ import annotations

from typing import Any

import typer

from inkpost.cli.context import DocRef, JsonOption, OrgScope, in_org
from inkpost.cli.output import Column, emit_json, show_rows
from storage.models import AuditEvent, Document
from storage.rows import id_of
from workflows import audit
from workflows.documents import filing
from workflows.documents.history import NOBODY, Directory, describe, directory_for

HISTORY_COLUMNS = (
    Column("at", "When"),
    Column("actor", "Actor"),
    Column("action", "Action"),
    Column("summary", "Details"),
)


def event_row(event: AuditEvent, directory: Directory = NOBODY) -> dict[str, Any]:
    """One event as a row: its fields as stored, plus ``summary``, the event in a sentence
    (``directory`` says who the ids in its details are)."""
    who = event.actor_label or event.actor_type
    if event.actor_id and event.actor_type != "system":
        who = f"{who} ({event.actor_type} {event.actor_id})"
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": who,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "document_id": event.document_id,
        "share_id": event.share_id,
        "details": event.details,
        "summary": describe(event, directory),
        "ip": event.ip,
    }


def history(ctx: typer.Context, ref: DocRef, as_json: JsonOption = False) -> None:
    """The timeline of a document and its other versions."""

    async def work(scope: OrgScope) -> tuple[Document, list[dict[str, Any]]]:
        document = await filing.find_document(scope.env, org_id=scope.org_id, ref=ref)
        events = await audit.document_history(
            scope.env, org_id=scope.org_id, document_id=id_of(document)
        )
        directory = await directory_for(scope.env, org_id=scope.org_id, events=events)
        return document, [event_row(e, directory) for e in events]

    document, rows = in_org(ctx, work)
    if as_json:
        emit_json([{k: v for k, v in row.items() if k != "summary"} for row in rows])
        return
    title = f"History of {document.ref} “{document.title}”"
    show_rows(rows, columns=HISTORY_COLUMNS, title=title, as_json=False)
