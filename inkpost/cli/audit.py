"""CLI commands over the audit trail: a document's history, verifying the chains."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inkpost.cli.context import (
    DocRef,
    JsonOption,
    OrgScope,
    in_org,
    settings_of,
    the_organization,
    with_runtime,
)
from inkpost.cli.output import Column, emit_json, err, show_rows
from inkpost.runtime import Runtime
from storage.models import AuditEvent, Document
from storage.rows import id_of
from workflows import audit
from workflows.documents import filing
from workflows.documents.history import NOBODY, Directory, describe, directory_for
from workflows.errors import NotFound
from workflows.people import organizations

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

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


AUDIT_COLUMNS = (
    Column("org", "Organisation"),
    Column("events", "Events", "right"),
    Column("verdict", "Verdict"),
)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    *,
    org: Annotated[
        str | None,
        typer.Option("--org", metavar="SLUG", help="Only this organisation.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Walk the audit chain of every organisation (or of --org); exit 1 if one is broken."""
    slug = org or settings_of(ctx).org

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        if slug:
            orgs = [await the_organization(runtime, slug)]
        else:
            orgs = list(await organizations.list_organizations(runtime.env))
        rows = []
        for org in orgs:
            org_id = id_of(org)
            try:
                report = await audit.verify_chain(runtime.env, org_id=org_id)
            except NotFound as e:
                report = audit.ChainReport(org_id, 0, False, 1, str(e))
            rows.append(
                {
                    "org": org.slug,
                    "events": report.events,
                    "ok": report.ok,
                    "first_bad_seq": report.first_bad_seq,
                    "problem": report.problem,
                    "verdict": "intact" if report.ok else f"BROKEN: {report.problem}",
                }
            )
        return rows

    rows = with_runtime(ctx, work)
    if as_json:
        emit_json([{k: v for k, v in row.items() if k != "verdict"} for row in rows])
    else:
        show_rows(rows, columns=AUDIT_COLUMNS, title="Audit chains", as_json=False)
    broken = [row for row in rows if not row["ok"]]
    for row in broken:
        err.print(
            f"error: the audit chain of '{row['org']}' does not match from event "
            f"{row['first_bad_seq']}: {row['problem']}",
            markup=False,
        )
    if broken:
        raise typer.Exit(1)
