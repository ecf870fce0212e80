"""Documents that carry signatures before Inkpost seals them: the seal keeps those
signatures valid (pyHanko's difference analysis, poppler's pdfsig), the completion
certificate becomes a sealed PDF of its own beside them, and `/verify` says how each
earlier signature stands."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Document, Notification, RequestDocument, SignatureRequest
from tests.conftest import STAFF, Tenant
from tests.fakes.tsa import tsa_identity
from tests.helpers import sealed_documents, upload
from tests.workflows.pdf_inputs import (
    pdffonts,
    pdftotext,
    qpdf_check,
    signed_pdf,
    with_a_page_added,
)
from tests.workflows.test_completion import WEB
from tests.workflows.test_sealing import certificate_for, drawn_signature, party, pdfsig
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.outbox.kinds import Kind
from workflows.signing import completion, creation, deciding, party_page, requests
from workflows.signing.certificate import CertificateInfo
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.seal import (
    PartyRecord,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    prior_signatures,
    seal_certificate,
    seal_pdf,
    verify_pdf,
)
from workflows.signing.verification import check_sealed


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    folder = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(folder, common_name="Acme Law seal"))


@pytest.fixture(scope="module")
def notary(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    """Someone else who signed the document before it came to Inkpost."""
    folder = tmp_path_factory.mktemp("notary") / "seal"
    return load_seal_key(*create_self_signed_seal(folder, common_name="Nora Notary"))


@pytest.fixture(scope="module")
def signed(notary: SealKey) -> bytes:
    return signed_pdf(notary)


@pytest.fixture(scope="module")
def locked(notary: SealKey) -> bytes:
    return signed_pdf(notary, certify=MDPPerm.NO_CHANGES)


def deciders() -> list[PartyRecord]:
    return [
        party("Łukasz Żółć", "signer", drawn=True),
        party("Ольга Смирнова", "approver", minutes=1),
        party("Åsa Öberg", "signer", drawn=True, minutes=2),
    ]


def beside(pdf: bytes, parties: list[PartyRecord]) -> CertificateInfo:
    """The certificate of a request whose first document, ``pdf``, was signed before."""
    info = certificate_for(pdf, parties)
    first, *rest = info.documents
    return dataclasses.replace(info, documents=(dataclasses.replace(first, prior="signed"), *rest))


def earlier_status(pdf: bytes, notary: SealKey, seal: SealKey) -> PdfSignatureStatus:
    """pyHanko's verdict on the notary's signature, difference analysis included."""
    [earlier, *_] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    context = ValidationContext(trust_roots=[notary.certificate, seal.certificate])
    return validate_pdf_signature(earlier, signer_validation_context=context)


# -- sealing -------------------------------------------------------------------------------


def test_sealing_a_signed_pdf_keeps_its_signature_valid(
    seal: SealKey, notary: SealKey, signed: bytes, tmp_path: Path
) -> None:
    assert prior_signatures(signed) == "signed"

    sealed = seal_pdf(signed, key=seal, certificate=beside(signed, deciders()))

    status = earlier_status(sealed, notary, seal)
    assert status.bottom_line, status.pretty_print_details()
    assert status.modification_level == ModificationLevel.FORM_FILLING
    reader = PdfFileReader(io.BytesIO(sealed))
    assert int(reader.root["/Pages"]["/Count"]) == 3  # no certificate pages
    ours = reader.embedded_signatures[1:]
    assert [float(s.sig_field["/Rect"][2]) for s in ours] == [0.0, 0.0, 0.0]  # invisible
    poppler = pdfsig(sealed, tmp_path)
    assert [entry["Signature Validation"] for entry in poppler] == ["Signature is Valid."] * 4
    assert poppler[0]["Signer Certificate Common Name"] == "Nora Notary"
    assert poppler[-1]["total"] == "Total document signed"
    qpdf_check(sealed, tmp_path)
    checks = verify_pdf(sealed, trusted=seal).signatures
    assert [c.changes_permitted for c in checks] == [True] * 4
    assert [c.ok for c in checks] == [False, True, True, True]  # the notary is not ours


def test_pages_added_after_a_signature_break_it_and_the_check_says_so(
    seal: SealKey, notary: SealKey, signed: bytes
) -> None:
    """What sealing once did to a signed PDF (the certificate pages appended) is what
    pyHanko refuses: the notary's signature is intact but no longer permits the file."""
    added = with_a_page_added(signed)

    [check] = verify_pdf(added, trusted=seal).signatures
    assert check.intact and check.valid and not check.changes_permitted
    assert not earlier_status(added, notary, seal).bottom_line


def test_a_certified_pdf_gets_only_what_its_certification_permits(
    seal: SealKey, notary: SealKey, tmp_path: Path
) -> None:
    certified = signed_pdf(notary, certify=MDPPerm.FILL_FORMS)

    sealed = seal_pdf(certified, key=seal, certificate=beside(certified, deciders()))

    status = earlier_status(sealed, notary, seal)
    assert status.bottom_line, status.pretty_print_details()
    assert all(
        entry["Signature Validation"] == "Signature is Valid." for entry in pdfsig(sealed, tmp_path)
    )


def test_a_pdf_certified_against_any_change_is_not_touched(seal: SealKey, notary: SealKey) -> None:
    locked = signed_pdf(notary, certify=MDPPerm.NO_CHANGES)
    assert prior_signatures(locked) == "unchangeable"
    assert prior_signatures(make_pdf("Plain", pages=1)) == "none"

    with pytest.raises(InvalidInput, match="certified against any change"):
        seal_pdf(locked, key=seal, certificate=beside(locked, deciders()))


def test_the_certificate_beside_them_is_a_sealed_pdf_of_its_own(
    seal: SealKey, signed: bytes, tmp_path: Path
) -> None:
    parties = deciders()

    made = seal_certificate(key=seal, certificate=beside(signed, parties))

    reader = PdfFileReader(io.BytesIO(made))
    signatures = reader.embedded_signatures
    context = ValidationContext(trust_roots=[seal.certificate])
    for signature in signatures:
        status = validate_pdf_signature(signature, signer_validation_context=context)
        assert status.bottom_line, status.pretty_print_details()
    assert [s.sig_object["/Name"] for s in signatures] == [p.decision.name for p in parties]
    poppler = pdfsig(made, tmp_path)
    assert all(entry["Signature Validation"] == "Signature is Valid." for entry in poppler)
    assert poppler[-1]["total"] == "Total document signed"
    qpdf_check(made, tmp_path)
    assert all(font["emb"] == "yes" for font in pdffonts(made, tmp_path))
    text = " ".join(pdftotext(made, tmp_path).split())
    for record in parties:
        assert f"{record.decision.name} - {record.decision.role}" in text
    assert "Carried signatures before sealing: sealed without added pages" in text
    assert "Drawn signature: yes, shown on the last page of this file" in text
    last = int(reader.root["/Pages"]["/Count"]) - 1
    stamps = [s for s in signatures if float(s.sig_field["/Rect"][2]) > 0]
    assert len(stamps) == 2
    rects = [[float(v) for v in s.sig_field["/Rect"]] for s in stamps]
    for stamp, rect in zip(stamps, rects, strict=True):
        assert stamp.sig_field["/P"].get_object() == reader.root["/Pages"]["/Kids"][last]
        assert rect[1] >= 56 and rect[3] <= 842 - 56  # inside the margins, above the footer
    assert rects[0][2] <= rects[1][0], "side by side, in decision order"
    last_page = pdftotext(made, tmp_path, page=last + 1)
    assert "Drawn signatures" in last_page and "Łukasz Żółć" in last_page
    [intent] = reader.root["/OutputIntents"]
    assert intent.get_object()["/S"] == "/GTS_PDFA1", "PDF/A: an output intent"
    profile = intent.get_object()["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3 and profile.data[36:40] == b"acsp", "with its ICC profile"
    xmp = reader.root["/Metadata"].get_object()
    assert "/Filter" not in xmp, "PDF/A: metadata a reader can find without decoding"
    assert re.search(rb"pdfaid:part[^<]*>2<|pdfaid:part=.2", xmp.data), xmp.data
    assert re.search(rb"pdfaid:conformance[^<]*>B<|pdfaid:conformance=.B", xmp.data)
    assert b"Completion certificate of" in xmp.data, "titled"


def test_a_drawing_that_is_no_png_stops_the_certificate_too(seal: SealKey) -> None:
    broken = party("Ada", "signer")
    broken = dataclasses.replace(
        broken, decision=dataclasses.replace(broken.decision, signature_png=b"not a png")
    )
    with pytest.raises(InvalidInput, match="not a PNG image"):
        seal_certificate(key=seal, certificate=beside(make_pdf("x", pages=1), [broken]))


# -- completing a request ------------------------------------------------------------------


async def _decided(env: Env, tenant: Tenant, originals: list[bytes]) -> tuple[int, list[int]]:
    """A request of ``originals`` whose signer (with a drawing) and approver decided."""
    ids = []
    for number, data in enumerate(originals, start=1):
        document = await upload(
            env,
            org_id=tenant.org_id,
            client_id=tenant.client_id,
            data=data,
            title=f"Document {number}",
            filename=f"document-{number}.pdf",
        )
        ids.append(document.id or 0)
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=ids,
            title="Lease 2027",
            parties=[
                NewParty(role="signer", name="Łukasz Żółć", phone="+46 70 111 22 33"),
                NewParty(role="approver", name="Ольга Смирнова", phone="+46 70 444 55 66"),
            ],
        ),
    )
    for link in created.parties:
        for document_id in ids:
            await party_page.record_opened(env, link.token, document_id, actor=WEB)
    signer, approver = created.parties
    drawing = drawn_signature()
    await deciding.decide(
        env,
        signer.token,
        Decision(kind="sign", typed_name="Łukasz Żółć", consent=True, signature_png=drawing),
        actor=WEB,
    )
    await deciding.decide(env, approver.token, Decision(kind="approve", consent=True), actor=WEB)
    return created.request.id or 0, ids


async def _bytes(env: Env, document: Document) -> bytes:
    return b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])


async def test_completion_files_the_certificate_beside_a_signed_document(
    env: Env, tenant: Tenant, seal: SealKey, notary: SealKey, signed: bytes, tmp_path: Path
) -> None:
    plain = make_pdf("Annex", pages=2)
    request_id, (signed_id, plain_id) = await _decided(env, tenant, [signed, plain])

    request = await completion.complete_request(env, request_id, key=seal)

    *documents, certificate = await sealed_documents(
        env, org_id=tenant.org_id, request_id=request_id
    )
    assert [d.version_of for d in documents] == [signed_id, plain_id]
    sealed_signed, sealed_plain = [await _bytes(env, d) for d in documents]
    assert (await asyncio.to_thread(earlier_status, sealed_signed, notary, seal)).bottom_line
    assert int(PdfFileReader(io.BytesIO(sealed_signed)).root["/Pages"]["/Count"]) == 3
    plain_text = " ".join(pdftotext(sealed_plain, tmp_path).split())
    assert "Completion certificate" in plain_text  # a document without signatures: appended
    assert "Carried signatures before sealing" in plain_text  # and it says where the rest is
    assert certificate.filename == f"completion-certificate-{request.ref}.pdf"
    assert certificate.title == "Completion certificate: Lease 2027"
    made = await _bytes(env, certificate)
    text = " ".join(pdftotext(made, tmp_path).split())
    assert "1. Łukasz Żółć - signer" in text and "2. Ольга Смирнова - approver" in text
    for data in (sealed_signed, sealed_plain, made):
        entries = pdfsig(data, tmp_path)
        assert all(e["Signature Validation"] == "Signature is Valid." for e in entries)
        assert entries[-1]["total"] == "Total document signed"

    state = await requests.request_state(env, org_id=tenant.org_id, ref=request.ref)
    assert [d.id for d in state.documents][-1] == certificate.id
    assert state.sealed[certificate.id or 0].id == certificate.id  # offered where PDFs are
    async with env.reads() as session:
        notes = (await session.exec(select(Notification))).all()
        links = (
            await session.exec(
                select(RequestDocument).where(RequestDocument.request_id == request_id)
            )
        ).all()
    [told] = [n for n in notes if n.kind == Kind.SIGN_STATUS and n.payload["status"] == "completed"]
    assert told.payload["sealed"][-1] == certificate.ref
    assert [link.position for link in links if link.document_id == certificate.id] == [
        completion.CERTIFICATE_POSITION
    ]

    again = await completion.complete_request(env, request_id, key=seal)
    assert again.status == requests.COMPLETED
    assert len(await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)) == 3


async def test_a_retry_after_the_certificate_was_filed_seals_nothing_twice(
    env: Env, tenant: Tenant, seal: SealKey, signed: bytes
) -> None:
    request_id, _ = await _decided(env, tenant, [signed])
    await completion.complete_request(env, request_id, key=seal)
    async with env.sessions() as session, session.begin():
        request = await session.get(SignatureRequest, request_id)
        assert request is not None
        request.status = requests.SEALING  # as if the worker died before finishing
        session.add(request)
    async with env.reads() as session:
        count = len((await session.exec(select(Document))).all())

    await completion.complete_request(env, request_id, key=seal)

    async with env.reads() as session:
        assert len((await session.exec(select(Document))).all()) == count


async def test_a_document_certified_against_any_change_is_kept_as_it_was(
    env: Env, tenant: Tenant, seal: SealKey, locked: bytes, tmp_path: Path
) -> None:
    request_id, [locked_id] = await _decided(env, tenant, [locked])

    await completion.complete_request(env, request_id, key=seal)

    kept, certificate = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)
    assert kept.id == locked_id and await _bytes(env, kept) == locked
    text = " ".join(pdftotext(await _bytes(env, certificate), tmp_path).split())
    assert "Certified by its author against any change: kept exactly as it was" in text

    verdict = await check_sealed(env, locked, trusted=seal)
    assert verdict.state == "not_ours" and verdict.match is None  # the original names nothing


# -- verifying -----------------------------------------------------------------------------


async def test_verify_reports_each_earlier_signature_and_matches_both_files(
    env: Env, tenant: Tenant, seal: SealKey, signed: bytes
) -> None:
    request_id, _ = await _decided(env, tenant, [signed])
    await completion.complete_request(env, request_id, key=seal)
    sealed, certificate = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)

    verdict = await check_sealed(env, await _bytes(env, sealed), trusted=seal)
    assert verdict.state == "sealed_and_matching" and verdict.match is not None
    assert verdict.match.request_title == "Lease 2027" and verdict.match.exact
    [earlier] = verdict.earlier
    assert earlier.check.signer == "Nora Notary" and earlier.state == "valid"
    assert not verdict.earlier_not_valid

    beside_it = await check_sealed(env, await _bytes(env, certificate), trusted=seal)
    assert beside_it.state == "sealed_and_matching" and beside_it.match is not None
    assert beside_it.match.document_title == "Completion certificate: Lease 2027"
    assert [d.name for d in beside_it.match.decisions] == ["Łukasz Żółć", "Ольга Смирнова"]

    original = await check_sealed(env, signed, trusted=seal)
    assert original.state == "not_ours" and original.match is None
    assert original.earlier == ()


async def test_an_edit_after_sealing_a_signed_document_is_traced_to_its_request(
    env: Env, tenant: Tenant, seal: SealKey, signed: bytes
) -> None:
    request_id, _ = await _decided(env, tenant, [signed])
    await completion.complete_request(env, request_id, key=seal)
    sealed, _ = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)
    writer = IncrementalPdfFileWriter(io.BytesIO(await _bytes(env, sealed)), strict=False)
    writer.root["/InkpostNote"] = generic.TextStringObject("added after sealing")
    writer.update_root()
    edited = io.BytesIO()
    writer.write(edited)

    verdict = await check_sealed(env, edited.getvalue(), trusted=seal)

    assert verdict.state == "modified" and verdict.match is not None
    assert verdict.match.request_title == "Lease 2027" and not verdict.match.exact


@pytest.mark.parametrize("damage", ["modified", "invalid"])
async def test_an_earlier_signature_that_no_longer_holds_is_reported_as_such(
    env: Env, seal: SealKey, signed: bytes, damage: str
) -> None:
    """The document was already damaged when it was sealed: the seal holds, the notary's
    signature does not, and the verdict says both."""
    if damage == "modified":
        damaged = with_a_page_added(signed)
    else:
        at = signed.index(b"%", 1) + 1  # the binary comment, inside what the notary signed
        damaged = signed[:at] + bytes([signed[at] ^ 1]) + signed[at + 1 :]
    parties = [party("Ada", "approver")]
    sealed = await asyncio.to_thread(
        seal_pdf, damaged, key=seal, certificate=beside(damaged, parties)
    )

    verdict = await check_sealed(env, sealed, trusted=seal)

    assert verdict.state == "intact_but_unknown"  # the seal holds; no request here
    [earlier] = verdict.earlier
    assert earlier.state == damage and verdict.earlier_not_valid
    assert [line.ours for line in verdict.signatures] == [False, True]


def test_with_a_timestamp_authority_both_files_close_with_a_timestamp(
    seal: SealKey, notary: SealKey, signed: bytes
) -> None:
    cert, key = tsa_identity()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    info = beside(signed, deciders())

    sealed = seal_pdf(signed, key=seal, certificate=info, timestamper=stamper)
    made = seal_certificate(key=seal, certificate=info, timestamper=stamper)

    status = earlier_status(sealed, notary, seal)
    assert status.bottom_line, status.pretty_print_details()
    for data in (sealed, made):
        report = verify_pdf(data, trusted=[seal.certificate, cert])
        *ours, closing = report.signatures[-4:]
        assert all(check.ok and check.timestamped_at is not None for check in ours)
        assert closing.kind == "timestamp" and closing.covers_whole_file and closing.ok
