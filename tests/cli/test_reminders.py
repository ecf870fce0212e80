"""`inkpost reminders`, `sign-request remind` and `link --tell-me-if-unused`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Office


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@pytest.fixture
def ending(cli: Cli, office: Office, pdf_file: Path) -> datetime:
    """D-1, shared with the office's recipient, available for five more days."""
    until = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    cli.ok(
        "upload",
        str(pdf_file),
        "--category",
        "contract",
        "--client",
        str(office.client_id),
        "--until",
        _iso(until),
    )
    cli.ok("share", "D-1", "--recipient", str(office.recipient_id))
    return until


def test_reminders_run_prints_what_it_queued_once(cli: Cli, ending: datetime) -> None:
    at = _iso(ending - timedelta(days=3))
    first = cli.ok("reminders", "run", "--at", at).stdout
    assert "availability reminders to recipients: 1" in first
    assert "unopened-document notices to staff: 1" in first
    assert "signature reminders to parties: 0" in first
    again = cli.json("reminders", "run", "--at", at)
    assert again["availability"] == 0 and again["availability_staff"] == 0
    assert again["at"].startswith(at)
    assert cli.count("notification") == 3  # the share notice and the two above


def test_reminders_run_before_the_period_queues_nothing(cli: Cli, ending: datetime) -> None:
    early = cli.json("reminders", "run", "--at", _iso(ending - timedelta(days=3, seconds=1)))
    assert early["availability"] == 0
    assert early["expired_requests"] == []


def test_reminders_run_refuses_a_bad_moment(cli: Cli, office: Office) -> None:
    assert "is not an ISO 8601 date" in cli.fails("reminders", "run", "--at", "next tuesday")


def test_reminder_settings_are_shown_changed_and_checked(cli: Cli, office: Office) -> None:
    shown = cli.json("reminders", "settings")
    assert shown == {
        "organization": "acme",
        "remind_days_before": 3,
        "quiet_hours": "9-20",
        "timezone": "UTC",
    }
    changed = cli.json(
        "reminders",
        "settings",
        "--days",
        "5",
        "--quiet-hours",
        "8-18",
        "--timezone",
        "Europe/Warsaw",
    )
    assert changed["remind_days_before"] == 5 and changed["quiet_hours"] == "8-18"
    assert "must look like 9-20" in cli.fails("reminders", "settings", "--quiet-hours", "9")
    assert "not 25" in cli.fails("reminders", "settings", "--quiet-hours", "9-25")
    assert "is not a time zone" in cli.fails("reminders", "settings", "--timezone", "Mars/Base")
    assert "remind 0 to 60 days" in cli.fails("reminders", "settings", "--days", "61")
    assert cli.json("reminders", "settings")["timezone"] == "Europe/Warsaw"


def test_sign_request_remind_respects_the_hourly_gap(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    cli.ok("sign-request", "create", "--doc", "D-1", "--signer", str(office.recipient_id))
    cli.ok("reminders", "settings", "--quiet-hours", "0-0")  # whatever the time of the run
    done = cli.ok("sign-request", "remind", "S-1", "--party", "1").stdout
    assert "Reminder queued for party 1, Rita Recipient" in done
    refused = cli.fails("sign-request", "remind", "S-1")
    assert "Rita Recipient was reminded" in refused and "remind them again from" in refused
    assert "request S-7 not found" in cli.fails("sign-request", "remind", "S-7")
    assert "S-1 has no party 4" in cli.fails("sign-request", "remind", "S-1", "--party", "4")
    rows = cli.query("SELECT dedupe_key FROM notification WHERE kind = 'remind.sign'")
    assert len(rows) == 1 and rows[0][0].startswith("remind:1:now:")


def test_a_link_may_ask_to_be_told_when_it_expires_unused(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    assert "needs --expires" in cli.fails("link", "D-1", "--tell-me-if-unused")
    ends = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    made = cli.json("link", "D-1", "--expires", _iso(ends), "--tell-me-if-unused")
    assert made["notify_unused_expiry"] is True
    assert (
        cli.json("reminders", "run", "--at", _iso(ends - timedelta(seconds=1)))["links_unused"] == 0
    )
    assert cli.json("reminders", "run", "--at", _iso(ends))["links_unused"] == 1
    assert (
        cli.json("reminders", "run", "--at", _iso(ends + timedelta(minutes=1)))["links_unused"] == 0
    )
