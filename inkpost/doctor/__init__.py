"""`inkpost doctor`: one small check per configured part of an installation, each saying
what works, or what is wrong and how to fix it.

Each check takes the settings and a timeout and returns a `Verdict`; `run_checks` runs
them side by side, each under its own deadline (clients get the same timeout, so no
thread or socket outlives a check by much), and turns anything a check did not foresee
into a failure of that part rather than of the whole run. Nothing is created: a missing
database or data directory is reported, not made. The checks build their own network
clients (Bot API, Web API, SMTP, S3, TSA) here, in the composition root.

The checks live in `store` (database, blob store), `messaging` (mail, Telegram, Slack)
and `evidence` (seal, timestamp authority); `verdicts` holds what they return.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from inkpost.doctor.evidence import check_seal, check_tsa
from inkpost.doctor.messaging import check_mail, check_slack, check_telegram
from inkpost.doctor.store import check_blobs, check_database
from inkpost.doctor.verdicts import Finding, Status, Verdict, fail, first_line
from inkpost.settings import Settings

__all__ = ["CHECKS", "DEFAULT_TIMEOUT", "Check", "Finding", "Status", "Verdict", "run_checks"]

DEFAULT_TIMEOUT = 5.0
"""Seconds each check may take."""

Check = Callable[[Settings, float], Awaitable[Verdict]]

CHECKS: Sequence[tuple[str, Check]] = (
    ("database", check_database),
    ("blobs", check_blobs),
    ("mail", check_mail),
    ("telegram", check_telegram),
    ("slack", check_slack),
    ("seal", check_seal),
    ("tsa", check_tsa),
)


async def run_checks(
    settings: Settings,
    *,
    seconds: float = DEFAULT_TIMEOUT,
    checks: Sequence[tuple[str, Check]] = CHECKS,
) -> list[Finding]:
    """Every check, side by side, each within ``seconds``; in the order given."""

    async def one(part: str, check: Check) -> Finding:
        try:
            verdict = await asyncio.wait_for(check(settings, seconds), seconds)
        except TimeoutError:
            verdict = fail(f"no answer within {seconds:g} s")
        except Exception as e:  # a check must not take the others down
            verdict = fail(f"unexpected failure: {type(e).__name__}: {first_line(e)}")
        return Finding(part, verdict.status, verdict.detail)

    return list(await asyncio.gather(*(one(part, check) for part, check in checks)))
