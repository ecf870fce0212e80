"""CLI commands over the audit trail: verifying the chains against their sealed
checkpoints, writing checkpoints, and exporting a history for others to check."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from asn1crypto import x509 as asn1_x509

from inkpost.cli.context import (
    JsonOption,
    settings_of,
    the_organization,
    with_runtime,
)
from inkpost.cli.output import Column, emit_json, err, say, show_record, show_rows, warn
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from inkpost.seal import seal_key_from_settings
from inkpost.sealer import timestamper
from storage.models import Organization
from storage.rows import id_of
from workflows import audit, audit_export, checkpoint_checks, checkpoints
from workflows.errors import NotFound
from workflows.people import organizations
from workflows.signing.seal_keys import BadSealKey, SealKey

audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)

OrgOption = Annotated[
    str | None,
    typer.Option("--org", metavar="SLUG", help="Only this organisation.", show_default=False),
]

AUDIT_COLUMNS = (
    Column("org", "Organisation"),
    Column("events", "Events", "right"),
    Column("anchors", "Checkpoints"),
    Column("verdict", "Verdict"),
)


@audit_app.command("verify")
def audit_verify(ctx: typer.Context, *, org: OrgOption = None, as_json: JsonOption = False) -> None:
    """Walk the audit chain of every organisation (or of --org) and check it against every
    sealed checkpoint on the durable medium; exit 1 if one does not hold."""
    slug = org or settings_of(ctx).org

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        trust = _SealTrust(runtime)
        rows = []
        for org in await _organisations(runtime, slug):
            org_id = id_of(org)
            try:
                report = await checkpoint_checks.verify_history(
                    runtime.env, org_id=org_id, trusted=await trust.of(org)
                )
            except NotFound as e:
                report = audit.ChainReport(org_id, 0, False, 1, str(e))
            rows.append(_verdict(org, report))
        return rows

    rows = with_runtime(ctx, work)
    if as_json:
        emit_json(
            [{k: v for k, v in row.items() if k not in ("verdict", "anchors")} for row in rows]
        )
    else:
        show_rows(rows, columns=AUDIT_COLUMNS, title="Audit chains", as_json=False)
    broken = [row for row in rows if not row["ok"]]
    for row in broken:
        if row["first_bad_seq"] is None:
            line = f"error: the audit checkpoints of '{row['org']}' do not hold: {row['problem']}"
        else:
            line = (
                f"error: the audit chain of '{row['org']}' does not match from event "
                f"{row['first_bad_seq']}: {row['problem']}"
            )
        err.print(line, markup=False)
    if broken:
        raise typer.Exit(1)


def _verdict(org: Organization, report: audit.ChainReport) -> dict[str, Any]:
    anchors: str | None = "none"
    if not report.ok:
        anchors = None  # the verdict says what does not hold
    elif report.checkpoints:
        anchors = f"{report.checkpoints}, to event {report.anchored}"
    return {
        "org": org.slug,
        "events": report.events,
        "ok": report.ok,
        "first_bad_seq": report.first_bad_seq,
        "problem": report.problem,
        "checkpoints": report.checkpoints,
        "anchored": report.anchored,
        "expected": report.expected,
        "found": report.found,
        "anchors": anchors,
        "verdict": "intact" if report.ok else f"BROKEN: {report.problem}",
    }


async def _organisations(runtime: Runtime, slug: str | None) -> list[Organization]:
    if slug:
        return [await the_organization(runtime, slug)]
    return list(await organizations.list_organizations(runtime.env))


class _SealTrust:
    """The installation's seal, which checkpoints are checked against: loaded once, and
    only when an organisation has checkpoints to check."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._anchors: tuple[asn1_x509.Certificate, ...] | None = None

    async def of(self, org: Organization) -> tuple[asn1_x509.Certificate, ...]:
        if self._anchors is None:
            if not await checkpoints.list_checkpoints(self.runtime.env, org_id=id_of(org)):
                return ()
            seal = await _load_seal(self.runtime, to=f"check the checkpoints of '{org.slug}'")
            self._anchors = seal.trust_anchors
        return self._anchors


async def _load_seal(runtime: Runtime, *, to: str) -> SealKey:
    try:
        return await asyncio.to_thread(seal_key_from_settings, runtime.settings)
    except BadSealKey as e:
        raise UserError(f"cannot {to}: {e}") from e


CHECKPOINT_COLUMNS = (
    Column("org", "Organisation"),
    Column("number", "Checkpoint", "right"),
    Column("seq", "Covers event", "right"),
    Column("outcome", "Outcome"),
)


@audit_app.command("checkpoint")
def audit_checkpoint(
    ctx: typer.Context, *, org: OrgOption = None, as_json: JsonOption = False
) -> None:
    """Write a sealed checkpoint of the history of every organisation (or of --org) whose
    chain moved since its last one, timestamped when INKPOST_TSA_URL is set. `serve` does
    this every INKPOST_CHECKPOINT_INTERVAL_SECONDS; with 0 there, run this from cron."""
    slug = org or settings_of(ctx).org

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        orgs = await _organisations(runtime, slug)
        seal = await _load_seal(runtime, to="write checkpoints")
        stamper = timestamper(runtime.settings)
        rows = []
        for org in orgs:
            anchor = await checkpoints.anchor_chain(
                runtime.env, org_id=id_of(org), seal=seal, timestamper=stamper
            )
            rows.append(_anchored(org, anchor))
        return rows

    rows = with_runtime(ctx, work)
    show_rows(rows, columns=CHECKPOINT_COLUMNS, title="Checkpoints", as_json=as_json)


def _anchored(org: Organization, anchor: checkpoints.Anchor | None) -> dict[str, Any]:
    if anchor is None:
        return {
            "org": org.slug,
            "number": None,
            "seq": None,
            "hash": None,
            "written": False,
            "timestamped": False,
            "at": None,
            "outcome": "no events yet",
        }
    checkpoint = anchor.checkpoint
    return {
        "org": org.slug,
        "number": checkpoint.number,
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "written": anchor.written,
        "timestamped": checkpoint.timestamp_key is not None,
        "at": checkpoint.at,
        "outcome": "written" if anchor.written else "unchanged since the last one",
    }


@audit_app.command("export")
def audit_export_command(
    ctx: typer.Context,
    *,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="The zip file to write; it must not exist yet.",
            show_default=False,
        ),
    ],
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            metavar="SLUG",
            help="The organisation (needed when there are several).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write one organisation's history as a zip that anyone can verify without Inkpost:
    every event with its hashes, every sealed checkpoint with its signature and timestamp,
    and the certificates (the procedure: docs/audit-export.md)."""
    target = _new_file(out)
    slug = org or settings_of(ctx).org

    async def work(runtime: Runtime) -> audit_export.ExportSummary:
        organization = await the_organization(runtime, slug)
        try:
            return await audit_export.export_history(
                runtime.env, org_id=id_of(organization), out=target
            )
        except OSError as e:
            raise UserError(f"cannot write {target}: {e.strerror or e}") from e

    summary = with_runtime(ctx, work)
    record = {
        "path": str(summary.path),
        "events": summary.events,
        "checkpoints": summary.checkpoints,
        "timestamped": summary.timestamped,
        "anchored": summary.anchored,
    }
    if as_json:
        show_record(record, title="Export", as_json=True)
        return
    events = f"{summary.events} event{'' if summary.events == 1 else 's'}"
    anchors = f"{summary.checkpoints} checkpoint{'' if summary.checkpoints == 1 else 's'}"
    last = f", the last covering event {summary.anchored}" if summary.anchored else ""
    say(f"Wrote {summary.path}: {events}, {anchors} ({summary.timestamped} timestamped){last}.")
    if not summary.checkpoints:
        warn(
            "there is no checkpoint yet, so the bundle shows only that the chain holds "
            "together; run `inkpost audit checkpoint` and export again"
        )


def _new_file(path: Path) -> Path:
    """``path`` if a new file can be created there; a one-line refusal otherwise."""
    path = path.expanduser()
    if path.is_dir():
        raise UserError(f"--out {path} is a directory: name a file to write")
    if path.exists() or path.is_symlink():
        raise UserError(f"--out {path} already exists: name a new file")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"--out {path}: there is no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {path}: the directory {parent} is not writable")
    return path
