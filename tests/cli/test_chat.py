"""Invitations (by mail, or a Telegram link) and the outbox from the command line."""

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


SMTP = {"INKPOST_SMTP_URL": "smtp://127.0.0.1:2525"}
"""A mail server set up (the CLI only queues the mail; the server sends it)."""


def telegram(api: FakeTelegramApi) -> dict[str, str | None]:
    return {"INKPOST_TELEGRAM_TOKEN": api.token, "INKPOST_TELEGRAM_API_URL": api.url}


def test_an_invitation_is_mailed_when_a_mail_server_is_set_up(cli: Cli, office: Office) -> None:
    rid = str(office.recipient_id)

    said = cli.ok("recipient", "invite", rid, env=SMTP).stdout

    assert said.strip() == (
        "Invitation for Rita Recipient is on its way to rita@nordic.test, with one-time "
        "links to their portal, each valid for 7 days from when it goes out."
    )
    [(kind, payload)] = cli.query("SELECT kind, payload FROM notification")
    assert kind == "recipient.invitation" and "rita@nordic.test" not in str(payload)
    [shown] = cli.json("recipient", "list")
    assert shown["invitation_last_sent"] is not None
    assert "Invitation last sent" in cli.ok("recipient", "list").stdout
    assert "invitation last sent" in cli.ok("recipient", "show", rid).stdout
    assert cli.fails("recipient", "invite", rid, env=SMTP).startswith(
        "error: an invitation to Rita Recipient was sent "
    )
    assert cli.count("notification") == 1


async def test_with_telegram_too_the_mail_carries_both_links(
    cli: Cli, office: Office, telegram_api: FakeTelegramApi
) -> None:
    settings = {**SMTP, **telegram(telegram_api)}

    result = await asyncio.to_thread(
        cli.ok, "recipient", "invite", str(office.recipient_id), env=settings
    )

    assert "with one-time links to their portal and Telegram" in result.stdout
    [(code_hash,)] = await asyncio.to_thread(cli.query, "SELECT invite_code_hash FROM recipient")
    assert code_hash is None, "the code is minted as the mail goes out"


async def test_without_a_mail_server_it_says_so_and_prints_a_deep_link(
    cli: Cli, office: Office, telegram_api: FakeTelegramApi
) -> None:
    # The CLI runs its own event loop; the fake answers from this one meanwhile.
    result = await asyncio.to_thread(
        cli.ok, "recipient", "invite", str(office.recipient_id), env=telegram(telegram_api)
    )

    lines = result.stdout.splitlines()
    assert lines[0] == "No mail was sent: no mail server is configured (set INKPOST_SMTP_URL)."
    match = re.search(r"https://t\.me/inkpost_test_bot\?start=([A-Za-z0-9_-]{1,64})", result.stdout)
    assert match, result.stdout
    [(code_hash,)] = await asyncio.to_thread(cli.query, "SELECT invite_code_hash FROM recipient")
    assert code_hash and match.group(1) not in code_hash
    assert await asyncio.to_thread(cli.count, "notification") == 0


async def test_without_an_address_it_says_no_mail_was_sent(
    cli: Cli, office: Office, telegram_api: FakeTelegramApi
) -> None:
    await asyncio.to_thread(
        cli.ok, "recipient", "add", "Bo Bricks", "--client", str(office.client_id)
    )
    settings = {**SMTP, **telegram(telegram_api)}

    result = await asyncio.to_thread(cli.ok, "recipient", "invite", "Bo Bricks", env=settings)

    assert result.stdout.startswith("No mail was sent: Bo Bricks has no email address.\n")
    assert "https://t.me/inkpost_test_bot?start=" in result.stdout


def test_an_invitation_without_telegram_or_mail_is_one_line(cli: Cli, office: Office) -> None:
    line = cli.fails("recipient", "invite", str(office.recipient_id))
    assert line == (
        "error: Telegram is not set up here and no mail server is configured, so there is no "
        "way to invite them"
    )
    [(code_hash, sent_at)] = cli.query("SELECT invite_code_hash, invite_sent_at FROM recipient")
    assert code_hash is None and sent_at is None


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
