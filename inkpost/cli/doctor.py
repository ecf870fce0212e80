"""`inkpost doctor`: check every configured part of the installation, one line each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated

import typer

from inkpost import doctor as checks
from inkpost.cli.context import JsonOption, settings_of
from inkpost.cli.output import emit_json, say


def doctor(
    ctx: typer.Context,
    *,
    as_json: JsonOption = False,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, max=120, metavar="SECONDS", help="How long each check may take."),
    ] = checks.DEFAULT_TIMEOUT,
) -> None:
    """Check the database, blob store, mail, Telegram, Slack, seal and timestamp authority:
    one line each, saying what is wrong and how to fix it. Exits 1 when a configured part
    fails; creates nothing."""
    findings = asyncio.run(checks.run_checks(settings_of(ctx), seconds=timeout))
    if as_json:
        emit_json(
            [{"part": f.part, "status": f.status.value, "detail": f.detail} for f in findings]
        )
    else:
        for line in lines(findings):
            say(line)
    if any(finding.failed for finding in findings):
        raise typer.Exit(1)


def lines(findings: Sequence[checks.Finding]) -> list[str]:
    """``ok    database  sqlite at …: reachable, schema at 0006``, aligned."""
    width = max((len(f.part) for f in findings), default=0) + 2
    return [f"{f.status.label:<6}{f.part:<{width}}{f.detail}" for f in findings]
