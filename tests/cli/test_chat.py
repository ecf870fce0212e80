"""Telegram invitations and the outbox from the command line."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Office
from tests.fakes.telegram_api import FakeTelegramApi


@pytest.fixture
def uploaded(cli: Cli, office: Office, pdf_file: Path) -> str:
    cli.ok("upload", str(pdf_file), "--category", "fee table", "--client", str(office.client_id))
    return "D-1"


async def test_an_invitation_prints_a_deep_link_that_links_the_chat(
    cli: Cli, office: Office, telegram_api: FakeTelegramApi
) -> None:
    settings: dict[str, str | None] = {
        "INKPOST_TELEGRAM_TOKEN": telegram_api.token,
        "INKPOST_TELEGRAM_API_URL": telegram_api.url,
    }
    # The CLI runs its own event loop; the fake answers from this one meanwhile.
    result = await asyncio.to_thread(
        cli.ok, "recipient", "invite", str(office.recipient_id), env=settings
    )
    match = re.search(r"https://t\.me/inkpost_test_bot\?start=([A-Za-z0-9_-]{1,64})", result.stdout)
    assert match, result.stdout
    [(code_hash,)] = await asyncio.to_thread(cli.query, "SELECT invite_code_hash FROM recipient")
    assert code_hash and match.group(1) not in code_hash


def test_an_invitation_without_telegram_is_one_line(cli: Cli, office: Office) -> None:
    line = cli.fails("recipient", "invite", str(office.recipient_id))
    assert line == "error: Telegram is not configured: set INKPOST_TELEGRAM_TOKEN"
    [(code_hash,)] = cli.query("SELECT invite_code_hash FROM recipient")
    assert code_hash is None


def test_dead_notifications_are_listed_and_retried(cli: Cli, office: Office, uploaded: str) -> None:
    cli.ok("share", uploaded, "--recipient", str(office.recipient_id))
    assert [n["status"] for n in cli.json("outbox", "list")] == ["pending"]
    assert cli.json("outbox", "list", "--dead") == []
    cli.execute("UPDATE notification SET status = 'dead', attempts = 8, last_error = 'gone'")
    [dead] = cli.json("outbox", "list", "--dead")
    assert dead["last_error"] == "gone"
    assert (
        "1 notification will be tried again." in cli.ok("outbox", "retry", str(dead["id"])).stdout
    )
    [again] = cli.json("outbox", "list")
    assert (again["status"], again["attempts"]) == ("pending", 0)


def test_bad_outbox_requests_are_one_line(cli: Cli, office: Office) -> None:
    assert cli.fails("outbox", "retry") == "error: name the notifications to retry, or pass --all"
    assert cli.fails("outbox", "retry", "7", "--all") == "error: give ids or --all, not both"
    assert cli.fails("outbox", "retry", "99") == "error: no dead notification with id 99"
    assert "--dead and --status" in cli.fails("outbox", "list", "--dead", "--status", "sent")
