"""Signature requests from the command line: create, list, show, cancel, fresh links."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from inkpost.sample_pdf import make_pdf
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from tests.cli.conftest import PUBLIC_URL, Cli, Office
from tests.helpers import confirmed_browser
from workflows.context import Actor, Env
from workflows.signing import deciding, party_page
from workflows.signing.deciding import Decision
from workflows.signing.party_page import PartyPage

URL = re.compile(re.escape(PUBLIC_URL) + r"/s/([A-Za-z0-9_-]+)")
TABLES = ("signature_request", "party", "party_link", "signature_request_document")


@pytest.fixture
def pdfs(cli: Cli, office: Office, tmp_path: Path) -> list[str]:
    """Two PDFs, D-1 and D-2, and a text file, D-3."""
    for name in ("contract", "annex"):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(make_pdf(name.capitalize(), pages=1, lines=["Terms"]))
        cli.ok("upload", str(path), "--category", "contract", "--client", str(office.client_id))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a PDF")
    cli.ok("upload", str(notes), "--category", "contract", "--client", str(office.client_id))
    return ["D-1", "D-2", "D-3"]


def _tokens(text: str) -> list[str]:
    return URL.findall(text)


async def _in_store(cli: Cli, work: str, token: str) -> PartyPage:
    engine = make_engine(cli.database_url)
    try:
        env = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(cli.blobs_root))
        page = await party_page.open_page(env, token)
        if work == "approve":
            assert page.party.id is not None
            await deciding.decide(
                env,
                token,
                Decision(
                    kind="approve", consent=True, typed_name=page.party.name, needs_review=False
                ),
                actor=Actor(type="party", label="page", ip="203.0.113.9"),
                browser=await confirmed_browser(env, token),
            )
            page = await party_page.open_page(env, token)
        return page
    finally:
        await engine.dispose()


def _page(cli: Cli, token: str, work: str = "open") -> PartyPage:
    return asyncio.run(_in_store(cli, work, token))


def test_create_prints_each_partys_link_in_the_order_given(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    result = cli.ok(
        "sign-request",
        "create",
        "--doc",
        "D-1",
        "--doc",
        "d2",
        "--approver",
        "Bo Boss, +46701234567",
        "--signer",
        str(office.recipient_id),
        "--viewer",
        "Vera View, @vera_view",
        "--signer",
        "Anna Berg <anna@firm.test>",
        "--order",
        "sequential",
        "--days",
        "14",
        "--message",
        "Please sign",
        "--title",
        "Contract 2027",
    )

    out = result.stdout
    assert out.startswith("Created S-1 “Contract 2027” (D-1, D-2; sequential; expires ")
    lines = [line.strip() for line in out.splitlines()]
    assert "1. approver Bo Boss (+46701234567; invited)" in lines
    assert "2. signer Rita Recipient (recipient 1; invited when their turn comes)" in lines
    assert "3. viewer Vera View (@vera_view; invited)" in lines
    assert "4. signer Anna Berg (anna@firm.test; invited when their turn comes)" in lines
    tokens = _tokens(out)
    assert len(tokens) == 4
    pages = [_page(cli, token) for token in tokens]
    assert [(p.party.position, p.party.name) for p in pages] == [
        (1, "Bo Boss"),
        (2, "Rita Recipient"),
        (3, "Vera View"),
        (4, "Anna Berg"),
    ]
    assert pages[0].request.message == "Please sign" and pages[0].may_decide
    assert pages[1].waiting_for == "Bo Boss"
    assert [d.ref for d in pages[0].state.documents] == ["D-1", "D-2"]


def test_create_as_json_and_a_request_listed_shown_and_cancelled(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    created = cli.json(
        "sign-request",
        "create",
        "--doc",
        "D-1",
        "--signer",
        "Anna Berg <anna@firm.test>, +46 70 123 45 67",
        "--expires",
        "2099-12-31",
        "--language",
        "pl",
    )
    assert (created["ref"], created["status"], created["order"]) == ("S-1", "pending", "parallel")
    assert created["expires_at"] == "2099-12-31T23:59:59+00:00" and created["language"] == "pl"
    [party] = created["parties"]
    assert (party["email"], party["phone"]) == ("anna@firm.test", "+46 70 123 45 67")
    assert party["language"] == "pl"
    assert URL.fullmatch(party["url"]) and party["invited_at"] is not None

    listed = cli.json("sign-request", "list", "--status", "pending")
    assert [r["ref"] for r in listed] == ["S-1"]
    table = cli.ok("sign-request", "list").stdout
    assert "S-1" in table and "contract" in table and "pending" in table

    cancelled = cli.ok("sign-request", "cancel", "S-1", "--reason", "Wrong annex")
    assert cancelled.stdout.startswith("Cancelled S-1 “contract”")
    shown = cli.json("sign-request", "show", "s-1")
    assert shown["status"] == "cancelled"
    assert [d["ref"] for d in shown["documents"]] == ["D-1"]
    assert cli.json("sign-request", "list", "--status", "pending") == []
    assert cli.fails("sign-request", "cancel", "S-1") == (
        "error: S-1 is cancelled; only a pending request can be cancelled"
    )
    assert cli.fails("sign-request", "link", "S-1", "--party", "1") == (
        "error: S-1 is cancelled; its links open nothing to decide"
    )
    history = [e["action"] for e in cli.json("history", "D-1")]
    assert history[-2:] == ["signature.requested", "signature.cancelled"]


def test_show_lists_parties_with_their_decisions(cli: Cli, office: Office, pdfs: list[str]) -> None:
    created = cli.json(
        "sign-request",
        "create",
        "--doc",
        "D-1",
        "--approver",
        "Bo Boss <bo@firm.test>",
        "--signer",
        "Anna Berg, @anna_berg",
    )
    token = URL.fullmatch(created["parties"][0]["url"])
    assert token is not None
    _page(cli, token.group(1), "approve")

    shown = cli.json("sign-request", "show", "S-1")
    bo, anna = shown["parties"]
    assert (bo["role"], bo["decision"], bo["auth_level"]) == ("approver", "approved", "code:email")
    assert bo["decided_by"] == "Bo Boss" and bo["on_behalf"] is False and bo["decided_at"]
    assert (anna["decision"], anna["telegram_username"]) == (None, "anna_berg")
    table = cli.ok("sign-request", "show", "S-1").stdout
    for text in ("S-1", "Parties", "approved", "code:email", "Bo Boss", "@anna_berg", "pending"):
        assert text in table


def test_a_fresh_link_opens_the_partys_page_and_is_in_the_history(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    cli.ok("sign-request", "create", "--doc", "D-1", "--signer", str(office.recipient_id))

    result = cli.ok("sign-request", "link", "S-1", "--party", "1")
    as_json = cli.json("sign-request", "link", "S-1", "--party", "1")

    assert result.stdout.startswith("Link for party 1, signer Rita Recipient (recipient 1):")
    [token] = _tokens(result.stdout)
    assert _page(cli, token).party.name == "Rita Recipient"
    assert as_json["request"] == "S-1" and as_json["url"] != result.stdout.splitlines()[-1]
    assert cli.count("party_link") == 3
    issued = [e for e in cli.json("history", "D-1") if e["action"] == "signature.link_issued"]
    assert len(issued) == 2 and issued[0]["details"]["party"] == "Rita Recipient"
    assert cli.fails("sign-request", "link", "S-1", "--party", "2") == "error: S-1 has no party 2"
    assert (
        cli.fails("sign-request", "link", "S-9", "--party", "1") == "error: request S-9 not found"
    )


BAD_PARTIES = [
    (["--signer", "Anna Berg"], "error: --signer 'Anna Berg': no recipient is called 'Anna Berg'"),
    (["--signer", "anna@firm.test"], "error: --signer 'anna@firm.test': no recipient is called"),
    (["--signer", "anna@firm.test, +4670"], "error: --signer 'anna@firm.test, +4670': start with"),
    (["--approver", "Bo, bo at firm"], "error: --approver 'Bo, bo at firm': 'bo at firm' is"),
    (["--signer", "Anna <anna@>"], "error: --signer 'Anna <anna@>': 'anna@' is not an email"),
    (["--signer", "Cy, @cy"], "error: --signer 'Cy, @cy': '@cy' is not a Telegram username"),
    (["--signer", "Di, +1, +2"], "error: --signer 'Di, +1, +2': give one phone number"),
    (["--viewer", "Vera <v@firm.test>"], "error: at least one party must sign or approve"),
    ([], "error: name at least one party"),
    (["--signer", "99"], "error: --signer '99': recipient 99 not found"),
    (["--signer", "1", "--approver", "1"], "error: Rita Recipient is named twice"),
    (["--signer", "1", "--order", "random"], "error: order must be parallel or sequential"),
    (["--signer", "1", "--expires", "2001-01-01"], "error: the request must expire in the"),
    (["--signer", "1", "--days", "3", "--expires", "2099-01-01"], "error: give --expires or"),
    (["--signer", "1", "--days", "0"], "error: Invalid value for '--days'"),
    (["--signer", "1", "--language", "xx"], "error: language must be one of en, pl, ru, sv"),
]


def test_bad_parties_and_terms_are_one_line_and_write_nothing(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    for args, message in BAD_PARTIES:
        line = cli.fails("sign-request", "create", "--doc", "D-1", *args)

        assert line.startswith(message), (args, line)
    for table in TABLES:
        assert cli.count(table) == 0


def test_documents_must_be_known_pdfs(cli: Cli, office: Office, pdfs: list[str]) -> None:
    signer = ["--signer", str(office.recipient_id)]

    assert cli.fails("sign-request", "create", "--doc", "D-3", *signer) == (
        "error: D-3 is not a PDF; only PDFs can be signed"
    )
    assert cli.fails("sign-request", "create", "--doc", "D-9", *signer) == (
        "error: document D-9 not found"
    )
    assert cli.fails("sign-request", "create", "--doc", "D-1", "--doc", "D-1", *signer) == (
        "error: a document is listed twice"
    )
    assert cli.fails("sign-request", "create", *signer).startswith("error: Missing option '--doc'")
    assert cli.fails("sign-request", "show", "X-1") == (
        "error: X-1 is not a request reference like S-4"
    )
    assert cli.fails("sign-request", "list", "--status", "lost") == (
        "error: no request status 'lost'"
    )
    for table in TABLES:
        assert cli.count(table) == 0


def test_help_explains_how_parties_are_written(cli: Cli) -> None:
    text = cli.ok("sign-request", "create", "--help").stdout

    for part in ("Name <email>", "@telegram", "id, name or email", "sequential", "--approver"):
        assert part in text


def test_create_warns_of_parties_whose_code_cannot_be_sent(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    args = ("sign-request", "create", "--doc", "D-1", "--signer", "Anna Berg <anna@firm.test>")
    mailing = {"INKPOST_SMTP_URL": "smtp://127.0.0.1:2525"}

    warned = cli(*args)
    quiet = cli(*args, env=mailing)
    as_json = cli(*args, "--json")

    assert warned.exit_code == 0 and "Created S-1" in warned.stdout
    assert warned.stderr.strip() == (
        "warning: Anna Berg cannot confirm who they are: their one-time code would go by "
        "email, which this installation does not send; they cannot decide until it does"
    )
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert json.loads(as_json.stdout)["unconfirmable"][0].startswith("Anna Berg cannot confirm")


def test_a_recipient_of_another_client_is_a_party_only_on_purpose(
    cli: Cli, office: Office, pdfs: list[str]
) -> None:
    nordic = cli.json("client", "add", "Nordic Family Trust")
    cli.ok("recipient", "add", "Nils Nordic", "--client", str(nordic["id"]))

    refused = cli.fails("sign-request", "create", "--doc", "D-1", "--signer", "Nils Nordic")
    sent = cli.ok(
        "sign-request", "create", "--doc", "D-1", "--signer", "Nils Nordic", "--across-clients"
    )

    assert refused == (
        "error: D-1 belongs to Nordic Timber, and Nils Nordic is a recipient of Nordic Family "
        "Trust; add --across-clients to send it anyway"
    )
    assert "Created S-1" in sent.stdout
