"""`inkpost reminders`: run the periodic scans once (for cron, and for checking what they
would queue at a given moment), and set when an organisation's reminders go out."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from inkpost.cli.context import (
    JsonOption,
    OrgScope,
    When,
    in_org,
    when_option,
    with_runtime,
)
from inkpost.cli.output import emit_json, say, show_record
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from storage.models import Organization
from workflows import scans

reminders_app = typer.Typer(
    help="Reminders and expiries: the scans `inkpost serve` runs every minute.",
    no_args_is_help=True,
)

LABELS = {
    "availability": "availability reminders to recipients",
    "availability_staff": "unopened-document notices to staff",
    "sign": "signature reminders to parties",
    "expired": "signature requests expired",
    "links_unused": "unused-link notices to staff",
    "access_ending": "access-ending notices to recipients",
    "access_ending_staff": "access-ending notices to staff",
    "dead_summaries": "dead-delivery summaries to staff",
}


@reminders_app.command("run")
def run(
    ctx: typer.Context,
    *,
    at: Annotated[
        When | None,
        when_option(
            "--at",
            "Scan as of this moment (default: now): a date-time, in UTC unless it names a "
            "zone, or a date (its start, UTC); every organisation is scanned.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run every scan once, for every organisation, and print what it queued.

    Safe to run from cron beside `inkpost serve`: a notice already queued is never queued
    again.
    """

    async def work(runtime: Runtime) -> scans.ScanReport:
        moment = at.starting("UTC") if at is not None else runtime.env.clock.now()
        return await scans.run_all(runtime.env, at=moment)

    report = with_runtime(ctx, work)
    counts = report.counts()
    if as_json:
        emit_json({"at": report.at, **counts, "expired_requests": report.expired})
        return
    say(f"Scanned as of {report.at:%Y-%m-%d %H:%M:%S} UTC:")
    for key, label in LABELS.items():
        say(f"  {label}: {counts[key]}")
    if report.expired:
        say(f"  expired: {', '.join(report.expired)}")


def _hours(text: str) -> tuple[int, int]:
    start, sep, end = text.strip().partition("-")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise UserError(f"--quiet-hours '{text}' must look like 9-20 (from 9:00 to 20:00)")
    return int(start), int(end)


def settings_row(org: Organization) -> dict[str, Any]:
    return {
        "organization": org.slug,
        "remind_days_before": org.remind_days_before,
        "quiet_hours": f"{org.quiet_hours_start}-{org.quiet_hours_end}",
        "timezone": org.timezone,
    }


@reminders_app.command("settings")
def settings(
    ctx: typer.Context,
    *,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            metavar="N",
            help="Remind recipients N days before a document stops being available (0: never).",
            show_default=False,
        ),
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(
            "--quiet-hours",
            metavar="START-END",
            help="Reminders reach recipients only from START to END o'clock, like 9-20.",
            show_default=False,
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", metavar="ZONE", help="Like Europe/Warsaw.", show_default=False),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show (or change) when the organisation's reminders go out."""
    hours = _hours(quiet_hours) if quiet_hours is not None else (None, None)

    async def work(scope: OrgScope) -> Organization:
        if days is None and quiet_hours is None and timezone is None:
            return scope.org
        return await scans.set_reminder_settings(
            scope.env,
            org_id=scope.org_id,
            actor=scope.actor,
            remind_days_before=days,
            quiet_hours_start=hours[0],
            quiet_hours_end=hours[1],
            timezone=timezone,
        )

    show_record(settings_row(in_org(ctx, work)), title="Reminders", as_json=as_json)
