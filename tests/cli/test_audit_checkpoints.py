"""`inkpost audit checkpoint`, `audit verify` against the checkpoints, and `audit export`:
a history cut short exits 1 naming the event; bad input is refused in one line."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Office

ACME = "(SELECT id FROM organization WHERE slug = 'acme')"


@pytest.fixture
def history(cli: Cli, office: Office, pdf_file: Path) -> None:
    """The seal `inkpost init` makes, and a document uploaded and linked."""
    cli.ok("init")
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    cli.ok("link", "D-1")


def _head(cli: Cli) -> tuple[int, str]:
    [(seq, hash_)] = cli.query(f"SELECT seq, hash FROM audithead WHERE org_id = {ACME}")
    return int(seq), str(hash_)


def _cut_off_after(cli: Cli, keep: int) -> None:
    """Delete the events after ``keep`` and set the head to the new last one."""
    [(last,)] = cli.query(f"SELECT hash FROM auditevent WHERE org_id = {ACME} AND seq = {keep}")
    cli.execute(f"DELETE FROM auditevent WHERE org_id = {ACME} AND seq > {keep}")
    cli.execute(
        f"UPDATE audithead SET seq = {keep}, hash = :hash WHERE org_id = {ACME}", {"hash": last}
    )


def test_a_checkpoint_is_written_once_for_a_head_and_verify_counts_it(
    cli: Cli, history: None
) -> None:
    seq, hash_ = _head(cli)

    [written] = cli.json("audit", "checkpoint")
    [again] = cli.json("audit", "checkpoint")

    assert (written["org"], written["number"], written["seq"], written["hash"]) == (
        "acme",
        1,
        seq,
        hash_,
    )
    assert written["written"] is True and written["timestamped"] is False
    assert again["written"] is False and again["number"] == 1
    assert "unchanged since the last one" in cli.ok("audit", "checkpoint").stdout
    [report] = cli.json("audit", "verify")
    assert report["ok"] is True
    assert (report["checkpoints"], report["anchored"]) == (1, seq)
    assert "1, to event" in cli.ok("audit", "verify").stdout


def test_a_history_cut_short_no_longer_verifies(cli: Cli, history: None) -> None:
    cli.ok("org", "create", "beta", "Beta Bank")
    cli.ok("audit", "checkpoint")
    seq, hash_, at = _checkpoint(cli)
    keep = seq - 2

    _cut_off_after(cli, keep)

    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: the audit chain of 'acme' does not match from event {keep + 1}: the chain "
        f"ends at event {keep}, but checkpoint 1 of {at} UTC covers event "
        f"{seq}: expected hash {hash_} at event {seq}, found no such event; events were cut "
        "off the end"
    )
    as_json = cli("audit", "verify", "--json")
    assert as_json.exit_code == 1
    [acme, beta] = json.loads(as_json.stdout)
    assert (acme["first_bad_seq"], acme["expected"], acme["found"]) == (keep + 1, hash_, None)
    assert beta["ok"] is True
    assert "intact" in cli.ok("audit", "verify", "--org", "beta").stdout


def _checkpoint(cli: Cli) -> tuple[int, str, str]:
    """The event number and hash acme's checkpoint covers, and when it was written."""
    [(seq, hash_, at)] = cli.query(
        f"SELECT seq, hash, at FROM audit_checkpoint WHERE org_id = {ACME}"
    )
    return int(seq), str(hash_), str(at)[:19]


def test_a_deleted_checkpoint_is_missed(cli: Cli, history: None, pdf_file: Path) -> None:
    cli.ok("audit", "checkpoint")
    cli.ok("link", "D-1")
    cli.ok("audit", "checkpoint")
    cli.execute("DELETE FROM audit_checkpoint WHERE number = 2")

    result = cli("audit", "verify")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the audit checkpoints of 'acme' do not hold: checkpoint 2 was written to the "
        "medium but is not in the database: checkpoints were deleted from it"
    )


def test_export_writes_the_bundle(cli: Cli, history: None, tmp_path: Path) -> None:
    cli.ok("audit", "checkpoint")
    seq, _, _ = _checkpoint(cli)
    out = tmp_path / "acme-history.zip"

    result = cli.ok("audit", "export", "--out", str(out))

    events, _ = _head(cli)
    assert result.stdout.strip() == (
        f"Wrote {out}: {events} events, 1 checkpoint (0 timestamped), the last covering "
        f"event {seq}."
    )
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        lines = archive.read("events.jsonl").decode().splitlines()
    assert "checkpoints/000001.json" in names and "certificates/seal.pem" in names
    assert len(lines) == events


def test_export_without_a_checkpoint_warns_that_it_proves_less(
    cli: Cli, history: None, tmp_path: Path
) -> None:
    result = cli.ok("audit", "export", "--out", str(tmp_path / "bundle.zip"))

    assert "0 checkpoints" in result.stdout
    assert result.stderr.strip().startswith("warning: there is no checkpoint yet")


def test_export_refuses_bad_input_in_one_line(cli: Cli, history: None, tmp_path: Path) -> None:
    taken = tmp_path / "taken.zip"
    taken.write_bytes(b"something")
    missing = tmp_path / "nowhere" / "bundle.zip"
    cli.ok("org", "create", "beta", "Beta Bank")

    assert cli.fails("audit", "export", "--org", "nope", "--out", str(tmp_path / "a.zip")) == (
        "error: organisation 'nope' not found"
    )
    assert cli.fails("audit", "export", "--org", "acme", "--out", str(missing)) == (
        f"error: --out {missing}: there is no directory {missing.parent}"
    )
    assert cli.fails("audit", "export", "--org", "acme", "--out", str(taken)) == (
        f"error: --out {taken} already exists: name a new file"
    )
    assert cli.fails("audit", "export", "--org", "acme", "--out", str(tmp_path)) == (
        f"error: --out {tmp_path} is a directory: name a file to write"
    )
    assert cli.fails("audit", "export", "--out", str(tmp_path / "b.zip")).startswith(
        "error: there are several organisations"
    )
    assert taken.read_bytes() == b"something"
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()


def test_without_its_seal_checkpoints_are_neither_written_nor_checked(
    cli: Cli, history: None
) -> None:
    cli.ok("audit", "checkpoint")
    shutil.rmtree(cli.data_dir / "seal")

    assert cli.fails("audit", "checkpoint").startswith(
        "error: cannot write checkpoints: there is no seal in"
    )
    assert cli.fails("audit", "verify").startswith(
        "error: cannot check the checkpoints of 'acme': there is no seal in"
    )


def test_verify_of_an_unknown_organisation_is_refused(cli: Cli, history: None) -> None:
    assert cli.fails("audit", "verify", "--org", "nope") == "error: organisation 'nope' not found"
