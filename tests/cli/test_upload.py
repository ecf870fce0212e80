"""`inkpost upload`: files stream onto the medium; a refused file leaves nothing behind."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from inkpost.cli import documents as cli_documents
from inkpost.sample_pdf import make_pdf
from tests.cli.conftest import Cli, Office
from tests.damaged_pdfs import damaged, hostile
from tests.helpers import blob_files


def test_a_pdf_is_uploaded_and_recorded(cli: Cli, office: Office, pdf_file: Path) -> None:
    uploaded = cli.json(
        "upload",
        str(pdf_file),
        "--category",
        "fee table",
        "--client",
        str(office.client_id),
        "--from",
        "2027-01-01",
        "--until",
        "2027-12-31T23:59:59+01:00",
    )

    assert [d["ref"] for d in uploaded] == ["D-1"]
    rows = cli.query(
        "SELECT title, category, client_id, filename, media_type, size, sha256, page_count, "
        "available_from, available_until FROM document"
    )
    assert len(rows) == 1
    title, category, client_id, filename, media_type, size, sha256, pages, start, end = rows[0]
    data = pdf_file.read_bytes()
    assert (title, category, client_id) == ("fee-table-2027", "fee table", office.client_id)
    assert (filename, media_type, pages) == ("fee-table-2027.pdf", "application/pdf", 3)
    assert (size, sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert str(start).startswith("2027-01-01 00:00:00")
    assert str(end).startswith("2027-12-31 22:59:59")
    assert [p.name for p in blob_files(cli.blobs_root)] == [sha256]
    listed = cli.json("documents", "list")
    assert [(d["ref"], d["client"]) for d in listed] == [("D-1", "Nordic Timber")]
    human = cli.ok("upload", str(pdf_file), "--category", "contract", "--client", "Nordic Timber")
    assert human.stdout.startswith("Uploaded D-2 “fee-table-2027” (contract, 3 pages")


def test_several_files_stream_in_chunks_under_a_progress_bar(
    cli: Cli, office: Office, tmp_path: Path
) -> None:
    big = tmp_path / "ledger-2027.txt"
    big.write_text("2027-01-01;consultation;180.00 EUR\n" * 60_000)
    assert big.stat().st_size > 2 * 1024 * 1024  # several chunks
    small = [tmp_path / f"annex-{n}.pdf" for n in (1, 2)]
    for n, path in enumerate(small, start=1):
        path.write_bytes(make_pdf(f"Annex {n}", pages=1))

    result = cli(
        "upload",
        str(big),
        *map(str, small),
        "--category",
        "annex",
        "--client",
        str(office.client_id),
        "--json",
        env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "0"},
    )

    assert result.exit_code == 0, result.stderr
    uploaded = json.loads(result.stdout)
    assert [(d["ref"], d["title"]) for d in uploaded] == [
        ("D-1", "ledger-2027"),
        ("D-2", "annex-1"),
        ("D-3", "annex-2"),
    ]
    assert (uploaded[0]["media_type"], uploaded[0]["size"]) == ("text/plain", big.stat().st_size)
    assert "3 files" in result.stderr
    assert all(name in result.stderr for name in ("ledger-2027.txt", "annex-1.pdf"))
    assert cli.count("document") == 3


def test_a_new_version_takes_client_and_category_from_the_previous_one(
    cli: Cli, office: Office, pdf_file: Path, tmp_path: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--category", "contract", "--client", str(office.client_id))
    second = tmp_path / "contract-v2.pdf"
    second.write_bytes(make_pdf("Contract v2", pages=2))

    [v2] = cli.json("upload", str(second), "--version-of", "D-1", "--title", "Contract")

    assert (v2["ref"], v2["version_no"], v2["category"]) == ("D-2", 2, "contract")
    shown = cli.json("documents", "show", "D-2")
    assert [d["ref"] for d in shown["versions"]] == ["D-1", "D-2"]


def test_without_a_category_a_document_files_under_other(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    [uploaded] = cli.json("upload", str(pdf_file), "--client", "Nordic Timber")

    assert uploaded["category"] == "other"
    assert uploaded["client"] == "Nordic Timber" and uploaded["client_id"] == office.client_id


def test_a_new_version_keeps_the_title_and_must_change_something(
    cli: Cli, office: Office, pdf_file: Path, tmp_path: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--title", "Engagement letter", "--client", "1")
    second = tmp_path / "engagement-v2-final.pdf"
    second.write_bytes(make_pdf("Engagement v2", pages=2))

    [v2] = cli.json("upload", str(second), "--version-of", "D-1")

    assert (v2["title"], v2["version_no"]) == ("Engagement letter", 2)
    same = tmp_path / "copy-of-v2.pdf"
    same.write_bytes(second.read_bytes())
    assert cli.fails("upload", str(same), "--version-of", "D-1") == (
        "error: the file is identical to D-2 (version 2): a new version must change something "
        f"(file {same})"
    )
    assert cli.count("document") == 2
    assert len(blob_files(cli.blobs_root)) == 2


def test_the_same_bytes_twice_are_stored_with_a_note_naming_the_first(
    cli: Cli, office: Office, pdf_file: Path
) -> None:
    cli.ok("upload", str(pdf_file), "--client", "1")

    again = cli.ok("upload", str(pdf_file), "--client", "1").stdout
    [as_json] = cli.json("upload", str(pdf_file), "--client", "1")

    assert "Note: the same bytes are already stored as D-1." in again
    assert as_json["same_content_as"] == ["D-1", "D-2"]


def _random_binary() -> bytes:
    return b"\x00\x01" + random.Random(7).randbytes(4096)


def _corrupt_pdf() -> bytes:
    return b"%PDF-1.7\n" + random.Random(8).randbytes(2048) + b"\n%%EOF\n"


def _truncated_pdf() -> bytes:
    data = make_pdf("Cut short", pages=2)
    return data[: len(data) // 2]


BAD_UPLOADS = {
    "unknown category": (
        ["--category", "recipe"],
        None,
        "error: unknown category 'recipe'; this organisation uses: contract, annex, fee table, "
        "invoice, statement, other",
    ),
    "unknown client": (["--client", "999"], None, "error: client 999 not found"),
    "window ends before it starts": (
        ["--from", "2027-02-01", "--until", "2027-01-01"],
        None,
        "error: the availability window ends (2027-01-01 23:59) before it starts "
        "(2027-02-01 00:00)",
    ),
    "bad ISO date": (
        ["--until", "31/12/2027"],
        None,
        "error: Invalid value for '--until': '31/12/2027' is not an ISO 8601 date",
    ),
    "empty file": ([], b"", "file is empty"),
    "random binary": ([], _random_binary(), "error: this kind of file is not accepted"),
    "text named as a PDF": (
        [],
        b"Dear client,\nplease find the invoice attached.\n",
        "error: 'upload.pdf' is named as a PDF but its content is plain text",
    ),
    "corrupt PDF": ([], _corrupt_pdf(), "error: the PDF cannot be opened: it is damaged"),
    "truncated PDF": ([], _truncated_pdf(), "error: the PDF is truncated"),
    "unknown version": (["--version-of", "D-7"], None, "error: document D-7 not found"),
    "bad reference": (
        ["--version-of", "seven"],
        None,
        "error: 'seven' is not a document reference",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_a_refused_upload_is_one_line_and_leaves_nothing(
    cli: Cli, office: Office, tmp_path: Path, case: str
) -> None:
    extra, content, expected = BAD_UPLOADS[case]
    path = tmp_path / "upload.pdf"
    path.write_bytes(make_pdf("Fine", pages=1) if content is None else content)
    options = {"--category": "contract", "--client": str(office.client_id)}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        options[flag] = value
    if "--version-of" in options:
        del options["--client"]

    line = cli.fails("upload", str(path), *(x for pair in options.items() for x in pair))

    assert expected in line
    assert cli.count("document") == 0
    assert blob_files(cli.blobs_root) == []


def test_missing_unreadable_and_oversize_files_are_refused_before_anything_is_stored(
    cli: Cli, office: Office, pdf_file: Path, tmp_path: Path
) -> None:
    common = ["--category", "contract", "--client", str(office.client_id)]
    missing = tmp_path / "nowhere.pdf"
    assert cli.fails("upload", str(pdf_file), str(missing), *common) == (
        f"error: {missing}: no such file"
    )
    assert cli.fails("upload", str(tmp_path), *common) == f"error: {tmp_path}: not a regular file"
    big = tmp_path / "big.pdf"
    big.write_bytes(make_pdf("Big", pages=1) + b"%" * (1024 * 1024 + 1))
    line = cli.fails("upload", str(big), *common, env={"INKPOST_MAX_UPLOAD_MB": "1"})
    assert line == f"error: {big}: file is larger than the limit of 1 MB"
    assert cli.fails("upload", str(pdf_file), str(big), "--title", "One", *common) == (
        "error: --title names a single document: give it only with one file"
    )
    assert cli.count("document") == 0
    assert blob_files(cli.blobs_root) == []


def test_the_workflow_limit_holds_when_a_file_grows_after_it_was_checked(
    cli: Cli, office: Office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n")
    check = cli_documents.check_files

    def check_then_grow(paths: list[Path], *, max_bytes: int) -> list[cli_documents.LocalFile]:
        checked = check(paths, max_bytes=max_bytes)
        with big.open("ab") as handle:
            handle.write(b"0" * (2 * 1024 * 1024))
        return checked

    monkeypatch.setattr(cli_documents, "check_files", check_then_grow)

    line = cli.fails(
        "upload",
        str(big),
        "--category",
        "contract",
        "--client",
        str(office.client_id),
        env={"INKPOST_MAX_UPLOAD_MB": "1"},
    )

    assert line == f"error: file is larger than the limit of 1 MB (file {big})"
    assert cli.count("document") == 0
    assert blob_files(cli.blobs_root) == []


@pytest.mark.parametrize("name", sorted({**damaged(), **hostile()}))
def test_a_damaged_or_hostile_pdf_is_refused_in_one_line_and_leaves_nothing(
    cli: Cli, office: Office, tmp_path: Path, name: str
) -> None:
    path = tmp_path / "upload.pdf"
    path.write_bytes({**damaged(), **hostile()}[name])

    line = cli.fails(
        "upload", str(path), "--category", "contract", "--client", str(office.client_id)
    )

    assert line.startswith(("error: the PDF", "error: the file is a PDF and a ZIP")), line
    assert cli.count("document") == 0
    assert blob_files(cli.blobs_root) == []


def test_an_organisation_that_accepts_active_content_records_it(
    cli: Cli, office: Office, tmp_path: Path
) -> None:
    path = tmp_path / "scripted.pdf"
    path.write_bytes(hostile()["JavaScript on opening"])
    cli.ok("org", "edit", "--active-content", "allow")

    client = str(office.client_id)
    [uploaded] = cli.json("upload", str(path), "--category", "contract", "--client", client)

    shown = cli.json("documents", "show", uploaded["ref"])
    assert shown["active_content"] == "an action run on opening (JavaScript); JavaScript"
    assert cli.json("org", "list")[0]["allow_active_content"] is True
    cli.ok("org", "edit", "--active-content", "refuse")
    refused = cli.fails("upload", str(path), "--category", "contract", "--client", client)
    assert refused.startswith("error: the PDF holds content that runs by itself")
