"""`inkpost audit verify`: exit 0 on an intact chain, exit 1 naming the first bad event."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli, Office


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
