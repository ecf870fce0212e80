"""The completion certificate: every name printed as typed, in an embedded font; a PDF/A
document still declares, and keeps to, what it did; a page never ends on a heading."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.workflows.pdf_inputs import pdfa_pdf, pdffonts, pdftotext, qpdf_check
from tests.workflows.test_sealing import (
    DECIDED,
    assert_sealed,
    certificate_for,
    party,
)
from workflows.signing import certificate as certificate_page
from workflows.signing.seal import (
    PartyEvent,
    PartyRecord,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    seal_pdf,
    verify_pdf,
)

NAMES = ["Łukasz Żółć", "Ольга Смирнова", "Åsa Öberg", "Γιώργος"]


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    folder = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(folder, common_name="Kancelaria Wrocław"))


def parties_in_every_script() -> list[PartyRecord]:
    signer = party(NAMES[0], "signer", drawn=True)
    signer = dataclasses.replace(
        signer, decision=dataclasses.replace(signer.decision, on_behalf_of=NAMES[2])
    )
    return [
        signer,
        party(NAMES[1], "approver", minutes=1),
        party(NAMES[3], "signer", drawn=True, minutes=2),
    ]


def sealed_with(pdf: bytes, seal: SealKey, parties: list[PartyRecord], **info: object) -> bytes:
    certificate = dataclasses.replace(certificate_for(pdf, parties), **info)  # type: ignore[arg-type]
    return seal_pdf(pdf, key=seal, certificate=certificate)


@pytest.fixture(scope="module", params=[1, 2], ids=["pdfa-1b", "pdfa-2b"])
def pdfa(request: pytest.FixtureRequest, seal: SealKey) -> tuple[int, bytes, bytes]:
    """A PDF/A input of the given part and its sealed file."""
    original = pdfa_pdf("Umowa dostawy — Łódź", part=request.param)
    sealed = sealed_with(
        original, seal, parties_in_every_script(), title="Umowa dostawy — Łódź, 2027"
    )
    return request.param, original, sealed


def test_every_name_prints_exactly_as_typed_in_fonts_embedded_in_the_file(
    pdfa: tuple[int, bytes, bytes], seal: SealKey, tmp_path: Path
) -> None:
    _, _, sealed = pdfa

    assert_sealed(sealed, seal, tmp_path, signatures=3)
    qpdf_check(sealed, tmp_path)
    text = pdftotext(sealed, tmp_path)
    assert "Request S-17: Umowa dostawy — Łódź, 2027" in text
    assert "1. Łukasz Żółć - signer - signed 2026-11-23 10:15:30 UTC" in text
    assert "On behalf of: Åsa Öberg" in text
    assert "2. Ольга Смирнова - approver - approved" in text
    assert "3. Γιώργος - signer - signed" in text
    assert "'Kancelaria Wrocław'" in text and "?" not in text.replace("(?)", "")
    stamp_text = pdftotext(sealed, tmp_path, page=2)
    assert "Łukasz Żółć" in stamp_text and "Γιώργος" in stamp_text  # the drawn signatures
    fonts = pdffonts(sealed, tmp_path)
    assert len(fonts) >= 4  # the input's, the certificate's regular and bold, the stamps'
    assert all(font["emb"] == "yes" and font["uni"] == "yes" for font in fonts), fonts
    reasons = [check.reason or "" for check in verify_pdf(sealed, trusted=seal).signatures]
    assert [reason.split(",")[0] for reason in reasons] == [NAMES[0], NAMES[1], NAMES[3]]


def test_a_pdfa_input_keeps_its_output_intent_and_metadata(
    pdfa: tuple[int, bytes, bytes],
) -> None:
    part, original, sealed = pdfa
    before = PdfFileReader(io.BytesIO(original))
    after = PdfFileReader(io.BytesIO(sealed))

    [intent] = after.root["/OutputIntents"]
    [was] = before.root["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1"
    profile = intent.get_object()["/DestOutputProfile"].get_object().data
    assert profile == was.get_object()["/DestOutputProfile"].get_object().data
    xmp = after.root["/Metadata"].get_object().data.decode()
    assert re.search(rf'pdfaid:part(="|>){part}', xmp) and "pdfaid:conformance" in xmp
    assert "Umowa dostawy" in xmp  # the title the input's metadata gave
    descriptors = _reachable(after.root, "/FontDescriptor")
    added = [d for d in descriptors if "/CIDSet" in d]
    assert len(added) >= 3  # the certificate's two faces and the stamps' (PDF/A-1, 6.3.5)
    if part == 1:  # PDF/A-1 knows neither object streams nor transparency
        assert b"/ObjStm" not in sealed and b"/SMask" not in sealed


def _reachable(root: generic.PdfObject, kind: str) -> list[generic.DictionaryObject]:
    """Every dictionary of ``/Type kind`` reachable from ``root``."""
    found, seen, todo = [], set(), [root]
    while todo:
        item = todo.pop()
        if isinstance(item, generic.IndirectObject):
            if item.idnum in seen:
                continue
            seen.add(item.idnum)
            item = item.get_object()
        if isinstance(item, generic.DictionaryObject):
            if item.get("/Type") == kind:
                found.append(item)
            todo.extend(item.raw_get(key) for key in item if key != "/Parent")
        elif isinstance(item, generic.ArrayObject):
            todo.extend(item.raw_get(i) for i in range(len(item)))
    return found


def test_a_letter_the_font_lacks_prints_as_a_question_mark_and_the_page_says_so(
    seal: SealKey, tmp_path: Path
) -> None:
    original = pdfa_pdf("Lease")
    sealed = sealed_with(original, seal, [party("王小明 Lee", "approver")])

    text = " ".join(pdftotext(sealed, tmp_path).split())
    assert "1. ??? Lee - approver" in text
    assert "printed as '?'" in text
    (check,) = verify_pdf(sealed, trusted=seal).signatures
    assert check.name == "王小明 Lee" and (check.reason or "").startswith("王小明 Lee, approver")


def test_the_drawn_signature_line_names_the_page_of_the_file_that_shows_it(
    seal: SealKey, tmp_path: Path
) -> None:
    original = pdfa_pdf("Lease", pages=3)
    sealed = sealed_with(
        original, seal, [party("Ada", "signer", drawn=True), party("Bo", "approver", minutes=1)]
    )

    reader = PdfFileReader(io.BytesIO(sealed))
    third = reader.root["/Pages"]["/Kids"][2].get_object()
    [stamp] = [s for s in reader.embedded_signatures if float(s.sig_field["/Rect"][2]) > 0]
    assert stamp.sig_field["/P"].get_object() == third
    assert int(reader.root["/Pages"]["/Count"]) == 4
    certificate = " ".join(pdftotext(sealed, tmp_path, page=4).split())
    assert "Drawn signature: yes, shown on page 3 of this file" in certificate
    assert "shown on the last page" not in certificate


def history(events: int) -> PartyRecord:
    return PartyRecord(
        decision=party("Filler Person", "approver").decision,
        events=tuple(
            PartyEvent(at=DECIDED - dt.timedelta(minutes=events - n), what=f"opened page {n}")
            for n in range(events)
        ),
    )


def test_a_heading_never_stands_alone_at_the_foot_of_a_page(tmp_path: Path) -> None:
    """However long the first party's history, the next party's "Events:" (and its name,
    and every section heading) starts a page rather than ending one."""
    moved = 0
    for events in range(30, 50):
        info = dataclasses.replace(
            certificate_for(b"", [history(events), party("Second Party", "signer", events=3)]),
            documents=(certificate_page.DocumentEntry("Lease", "lease.pdf", "ab" * 32),),
        )
        made = certificate_page.standalone_certificate(info, seal_name="Seal", drawings_height=0)
        for page in range(1, made.pages + 1):
            lines = [
                line.strip()
                for line in pdftotext(made.pdf, tmp_path, page=page).splitlines()
                if line.strip() and "Completion certificate of" not in line
            ]
            heading = ("Events:", "Decisions", "Audit trail", "How to check", "Documents (")
            assert not lines[-1].startswith(heading), (events, page, lines[-3:])
            assert not lines[-1].startswith("2. Second Party"), (events, page)
            moved += page > 1 and lines[0] in ("Events:", "Audit trail")
    assert moved, "no variant put a heading where the page would have ended"
