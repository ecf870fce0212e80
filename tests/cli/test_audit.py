"""`inkpost audit verify`: exit 0 on an intact chain, exit 1 naming the first bad event;
`inkpost history`: a document's events as sentences a staff member reads."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from tests.cli.conftest import PUBLIC_URL, Cli, Office
from tests.helpers import confirmed_browser
from workflows.context import Actor, Env
from workflows.sharing import access
from workflows.signing import deciding, party_page


def _some_history(cli: Cli, office: Office, pdf_file: Path) -> None:
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    cli.ok("link", "D-1")


def test_an_intact_chain_verifies(cli: Cli, office: Office, pdf_file: Path) -> None:
    _some_history(cli, office, pdf_file)
    cli.ok("org", "create", "beta", "Beta Bank")

    result = cli.ok("audit", "verify")

    assert "acme" in result.stdout and "beta" in result.stdout and "intact" in result.stdout
    reports = cli.json("audit", "verify")
    assert [(r["org"], r["ok"]) for r in reports] == [("acme", True), ("beta", True)]
    assert reports[0]["events"] == 5
    only = cli.json("--org", "beta", "audit", "verify")
    assert [r["org"] for r in only] == ["beta"]


def test_a_tampered_event_is_named_and_exits_1(cli: Cli, office: Office, pdf_file: Path) -> None:
    _some_history(cli, office, pdf_file)
    cli.ok("org", "create", "beta", "Beta Bank")
    cli.execute(
        "UPDATE auditevent SET action = 'recipient.removed' "
        "WHERE seq = 3 AND org_id = (SELECT id FROM organization WHERE slug = 'acme')"
    )

    result = cli("audit", "verify")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the audit chain of 'acme' does not match from event 3: "
        "event 3 (recipient.removed) was altered after it was written"
    )
    assert "beta" in result.stdout
    as_json = cli("audit", "verify", "--json")
    assert as_json.exit_code == 1
    assert '"first_bad_seq": 3' in as_json.stdout
    beta_only = cli.ok("audit", "verify", "--org", "beta")
    assert "intact" in beta_only.stdout


def test_changed_details_are_found_too(cli: Cli, office: Office, pdf_file: Path) -> None:
    _some_history(cli, office, pdf_file)
    as_text = "details::text" if cli.database_url.startswith("postgresql") else "details"
    back = "::json" if cli.database_url.startswith("postgresql") else ""
    cli.execute(
        f"UPDATE auditevent SET details = replace({as_text}, 'contract', 'invoice'){back} "
        "WHERE action = 'document.added'"
    )

    result = cli("audit", "verify")

    assert result.exit_code == 1
    assert "event 4 (document.added) was altered after it was written" in result.stderr


# --- `inkpost history`: every event as a sentence -------------------------------------------

LINK = re.compile(re.escape(PUBLIC_URL) + r"/([ds])/([A-Za-z0-9_-]+)")
REPR = re.compile(r"[{}\[\]']|\bTrue\b|\bFalse\b|\bNone\b")
"""What a Python repr leaves in text: braces, brackets, quotes, True, False, None."""


def _token(url: str) -> str:
    match = LINK.fullmatch(url)
    assert match, url
    return match.group(2)


async def _in_store(cli: Cli, visit: Callable[[Env], Awaitable[object]]) -> None:
    engine = make_engine(cli.database_url)
    try:
        await visit(Env(sessions=make_session_factory(engine), blobs=FileBlobStore(cli.blobs_root)))
    finally:
        await engine.dispose()


def _visit_link(cli: Cli, token: str) -> None:
    """Someone opens the link and downloads the file, as the web page would record it."""
    visitor = access.Visitor(ip="203.0.113.7", user_agent="Firefox")

    async def visit(env: Env) -> None:
        await access.open_shared(env, token, visitor)
        await access.start_download(env, token, visitor)

    asyncio.run(_in_store(cli, visit))


def _decide(cli: Cli, token: str, decision: deciding.Decision) -> None:
    async def visit(env: Env) -> None:
        page = await party_page.open_page(env, token)
        assert page.party.id is not None
        for document in page.state.documents:
            assert document.id is not None
            await party_page.record_opened(
                env, token, document.id, actor=Actor(type="party", label=page.party.name)
            )
        await deciding.decide(
            env,
            token,
            replace(decision, typed_name=page.party.name),
            actor=Actor(type="party", label=page.party.name, ip="198.51.100.4"),
            browser=await confirmed_browser(env, token),
        )

    asyncio.run(_in_store(cli, visit))


@pytest.fixture
def busy_history(cli: Cli, office: Office, pdf_file: Path) -> None:
    """D-1 shared every way, its link used up and revoked, two signature requests on it:
    one declined after an approval, one cancelled."""
    rita = str(office.recipient_id)
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    cli.ok("share", "D-1", "--recipient", rita, "--expires", "2027-12-31")
    other = cli.json("recipient", "add", "Olle Other", "--client", str(office.client_id))
    group = cli.json("group", "create", "Board")
    cli.ok("group", "add", str(group["id"]), str(other["id"]))
    cli.ok("share", "D-1", "--group", str(group["id"]))
    space = cli.json("space", "create", "Board room", "--client", str(office.client_id))
    cli.ok("share", "D-1", "--space", str(space["id"]), "--expires", "2027-06-30T17:30")
    link = cli.json(
        "link", "D-1", "--max-downloads", "1", "--expires", "2027-12-31", "--tell-me-if-unused"
    )
    _visit_link(cli, _token(link["url"]))
    cli.ok("revoke", str(link["share_id"]))
    created = cli.json(
        "sign-request", "create", "--doc", "D-1", "--order", "sequential",
        "--approver", "Bo Boss <bo@firm.test>", "--approver", "Cy Clerk <cy@firm.test>",
        "--signer", rita, "--viewer", "Vera View <vera@firm.test>",
    )  # fmt: skip
    cli.ok("sign-request", "link", "S-1", "--party", "1")
    cli.ok("sign-request", "remind", "S-1")
    bo, cy = (_token(party["url"]) for party in created["parties"][:2])
    _decide(cli, bo, deciding.Decision(kind="approve", consent=True, needs_review=False))
    _decide(cli, cy, deciding.Decision(kind="decline", reason="Wrong annex attached"))
    cli.ok("sign-request", "create", "--doc", "D-1", "--signer", rita)
    cli.ok("sign-request", "cancel", "S-2", "--reason", "Sent twice")


def test_history_rows_read_as_sentences(cli: Cli, busy_history: None) -> None:
    events = cli.json("history", "D-1")
    stdout = cli.ok("history", "D-1").stdout

    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len(events) == 18
    details = [row.split("│")[4].strip() for row in rows]
    for row in details:
        assert not REPR.search(row), row
    assert "Shared with Rita Recipient (rita@nordic.test) until 31 Dec 2027 (share 1)" in details
    assert "Shared with Olle Other through group Board, with no end date (share 2)" in details
    assert "Shared with space Board room until 30 Jun 2027, 17:30 UTC (share 3)" in details
    assert (
        "Link created, expires 31 Dec 2027, at most 1 download, "
        "staff are told if it expires unused (share 4)"
    ) in details
    assert "Opened for the first time (share 4), from 203.0.113.7" in details
    assert any(
        d.startswith("Downloaded") and d.endswith("(share 4), from 203.0.113.7") for d in details
    )
    assert "Link revoked (share 4)" in details
    assert (
        "Sent for signature (S-1) to Bo Boss (approver), Cy Clerk (approver), "
        "Rita Recipient (signer) and Vera View (viewer), in order"
    ) in details
    assert "New signing link for Bo Boss (party 1) in S-1" in details
    assert "Opened in S-1 by Bo Boss" in details
    assert (
        "Bo Boss (approver) approved S-1; identified by one-time code by email, from 198.51.100.4"
    ) in details
    assert (
        "Cy Clerk (approver) declined S-1: “Wrong annex attached”; "
        "identified by one-time code by email, from 198.51.100.4"
    ) in details
    assert "Sent for signature (S-2) to Rita Recipient (signer)" in details
    assert "Request S-2 cancelled: “Sent twice”" in details
    assert details[0].startswith("Added D-1 “fee-table-2027” (fee-table-2027.pdf, ")


def test_history_as_json_keeps_the_details_as_data(cli: Cli, busy_history: None) -> None:
    events: dict[str, Any] = {}
    for event in cli.json("history", "D-1"):
        events.setdefault(event["action"], event)  # the first of each

    assert "summary" not in events["link.created"]
    assert events["link.created"]["details"] == {
        "expires_at": events["link.created"]["details"]["expires_at"],
        "max_downloads": 1,
        "notify_unused": True,
    }
    assert events["signature.requested"]["details"]["parties"][0] == {
        "name": "Bo Boss",
        "role": "approver",
    }
    assert events["document.opened"]["details"] == {"first": True}
