"""Sealing: every sealed PDF is checked by pyHanko's validator and by poppler's pdfsig."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import socket
import stat
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from aiohttp import web
from asn1crypto import x509 as asn1_x509
from asn1crypto.x509 import Certificate
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from inkpost.sample_pdf import make_pdf
from inkpost.sealer import HttpTimestamper
from tests.evidence import pdfsig
from tests.fakes.tsa import answering_with, serving_tsa, tsa_identity
from workflows.errors import InvalidInput
from workflows.signing.seal import (
    AuditHead,
    BadSealKey,
    CertificateInfo,
    DocumentEntry,
    PartyDecision,
    PartyEvent,
    PartyRecord,
    SealingFailed,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    load_seal_pkcs12,
    seal_pdf,
    verify_pdf,
)

DECIDED = dt.datetime(2026, 11, 23, 10, 15, 30, tzinfo=dt.UTC)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
PEOPLE = [
    ("Alice Anders", "signer"),
    ("Bruno Becker", "approver"),
    ("Chloé Carré", "signer"),
]


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seal_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return create_self_signed_seal(
        tmp_path_factory.mktemp("seal") / "seal", common_name="Acme Law seal"
    )


@pytest.fixture(scope="module")
def seal(seal_files: tuple[Path, Path]) -> SealKey:
    return load_seal_key(*seal_files)


@pytest.fixture(scope="module")
def original() -> bytes:
    return make_pdf("Supply agreement 2027", pages=3, lines=["Price 1,000 EUR"])


def drawn_signature() -> bytes:
    image = Image.new("RGBA", (360, 120), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(10, 90), (90, 20), (170, 100), (350, 25)], fill="navy", width=5)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def party(
    name: str,
    role: str,
    *,
    drawn: bool = False,
    on_behalf_of: str | None = None,
    events: int = 2,
    minutes: int = 0,
) -> PartyRecord:
    decided = DECIDED + dt.timedelta(minutes=minutes)
    decision = PartyDecision(
        name=name,
        role=role,  # type: ignore[arg-type]
        decided_at=decided,
        auth_level="one-time code via Telegram",
        ip="203.0.113.7",
        user_agent=BROWSER,
        on_behalf_of=on_behalf_of,
        signature_png=drawn_signature() if drawn else None,
    )
    happened = tuple(
        PartyEvent(
            at=decided - dt.timedelta(minutes=events - n),
            what=f"step {n + 1}: opened the document",
            ip="203.0.113.7",
            user_agent=BROWSER,
        )
        for n in range(events)
    )
    return PartyRecord(decision=decision, events=happened)


def certificate_for(pdf: bytes, parties: Sequence[PartyRecord]) -> CertificateInfo:
    return CertificateInfo(
        request_ref="S-17",
        title="Supply agreement 2027",
        organisation="Acme Law",
        documents=(
            DocumentEntry("Supply agreement", "supply.pdf", hashlib.sha256(pdf).hexdigest()),
            DocumentEntry("Annex A", "annex-a.pdf", "ab" * 32),
        ),
        parties=tuple(parties),
        audit_head=AuditHead(seq=314, hash="cd" * 32),
        completed_at=DECIDED + dt.timedelta(minutes=10),
    )


def assert_sealed(
    sealed: bytes,
    seal: SealKey,
    tmp_path: Path,
    *,
    signatures: int,
    extra_trust: Sequence[asn1_x509.Certificate] = (),
    closing_timestamp: bool = False,
) -> None:
    """pyHanko and poppler agree: every signature intact and valid, the last one (the
    closing document timestamp, when there is one) covering the whole file."""
    reader = PdfFileReader(io.BytesIO(sealed))
    embedded = reader.embedded_signatures
    assert len(embedded) == signatures + closing_timestamp
    for index, signature in enumerate(embedded):
        context = ValidationContext(trust_roots=[seal.certificate, *extra_trust])
        last = index == len(embedded) - 1
        if closing_timestamp and last:
            assert signature.sig_object["/Type"] == "/DocTimeStamp"
            stamp = validate_pdf_timestamp(signature, validation_context=context)
            assert stamp.intact and stamp.valid and stamp.trusted, stamp
            assert stamp.coverage == SignatureCoverageLevel.ENTIRE_FILE
            continue
        status = validate_pdf_signature(signature, signer_validation_context=context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
        expected = (
            SignatureCoverageLevel.ENTIRE_FILE if last else SignatureCoverageLevel.ENTIRE_REVISION
        )
        assert status.coverage == expected
    poppler = pdfsig(sealed, tmp_path)
    assert len(poppler) == len(embedded)
    for entry in poppler[:signatures]:
        assert entry["Signature Validation"] == "Signature is Valid.", entry
        assert entry["Signature Type"] == "ETSI.CAdES.detached"
        assert entry["Signer Certificate Common Name"] == seal.common_name
    if closing_timestamp:
        # poppler 22 lists a document timestamp without checking it (ETSI.RFC3161 is
        # "unknown" to it): pyHanko above and `openssl ts -verify` check it instead.
        assert poppler[-1]["Signature Field Name"].endswith("-timestamp")
    assert poppler[-1]["total"] == "Total document signed"


def page_texts(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    try:
        texts = []
        for page in document:
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()


def seal_of(pdf: bytes, seal: SealKey, parties: Sequence[PartyRecord], **kwargs: object) -> bytes:
    return seal_pdf(pdf, key=seal, certificate=certificate_for(pdf, parties), **kwargs)  # type: ignore[arg-type]


# -- sealing -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("drawn", [False, True], ids=["invisible", "drawn"])
def test_each_party_gets_a_valid_seal_signature_and_the_certificate_is_appended(
    seal: SealKey, original: bytes, tmp_path: Path, count: int, drawn: bool
) -> None:
    parties = [
        party(name, role, drawn=drawn and role == "signer", minutes=n)
        for n, (name, role) in enumerate(PEOPLE[:count])
    ]

    sealed = seal_of(original, seal, parties)

    assert_sealed(sealed, seal, tmp_path, signatures=count)
    assert sealed.startswith(original)
    texts = page_texts(sealed)
    assert len(texts) == 3 + 1
    certificate = " ".join(texts[3].split())
    assert "Completion certificate" in certificate and "Request S-17" in certificate
    assert hashlib.sha256(original).hexdigest() in certificate
    assert "ab" * 32 in certificate and "event #314" in certificate
    for record in parties:
        decision = record.decision
        assert f"{decision.name} - {decision.role}" in certificate
        assert "Identified by: one-time code via Telegram" in certificate
        assert "IP address: 203.0.113.7" in certificate
        assert "step 1: opened the document" in certificate
    reasons = [check.reason for check in verify_pdf(sealed, trusted=seal).signatures]
    assert reasons == [
        f"{record.decision.name}, {record.decision.role}, "
        f"{'signed' if record.decision.role == 'signer' else 'approved'} on "
        f"{(DECIDED + dt.timedelta(minutes=n)).strftime('%Y-%m-%d %H:%M:%S')} UTC; "
        "identified by one-time code via Telegram"
        for n, record in enumerate(parties)
    ]


def test_a_drawn_signature_is_a_visible_stamp_on_the_documents_last_page(
    seal: SealKey, original: bytes
) -> None:
    parties = [
        party("Alice Anders", "signer", drawn=True),
        party("Bruno Becker", "approver"),
        party("Chloé Carré", "signer", drawn=True),
    ]

    sealed = seal_of(original, seal, parties)

    reader = PdfFileReader(io.BytesIO(sealed))
    last_original_page = reader.root["/Pages"]["/Kids"][2].get_object()
    widgets = {}
    for signature in reader.embedded_signatures:
        field = signature.sig_field
        rect = [float(v) for v in field["/Rect"]]
        widgets[signature.field_name] = (rect, field.get("/P"))
    visible = {name for name, (rect, _) in widgets.items() if rect[2] - rect[0] > 0}
    assert visible == {"InkpostSeal-S-17-1", "InkpostSeal-S-17-3"}
    for name in visible:
        rect, page = widgets[name]
        assert page.get_object() is last_original_page or page.get_object() == last_original_page
        assert rect[1] >= 0 and rect[3] <= 842
    first, third = widgets["InkpostSeal-S-17-1"][0], widgets["InkpostSeal-S-17-3"][0]
    assert first[2] <= third[0], "stamps do not overlap and follow decision order"


def test_on_behalf_decisions_and_unusual_names_are_recorded_exactly_in_the_reason(
    seal: SealKey, original: bytes, tmp_path: Path
) -> None:
    parties = [party("Łukasz Иванов", "signer", on_behalf_of="Olga Ørsted")]

    sealed = seal_of(original, seal, parties)

    assert_sealed(sealed, seal, tmp_path, signatures=1)
    (check,) = verify_pdf(sealed, trusted=seal).signatures
    assert check.name == "Łukasz Иванов"
    assert check.reason is not None and check.reason.endswith("; on behalf of Olga Ørsted")
    certificate = " ".join(page_texts(sealed)[-1].split())
    assert "1. Łukasz Иванов - signer" in certificate
    assert "On behalf of: Olga Ørsted" in certificate
    assert "?" not in certificate


def test_a_long_history_spills_onto_more_certificate_pages(
    seal: SealKey, original: bytes, tmp_path: Path
) -> None:
    parties = [party(name, role, events=40) for name, role in PEOPLE]

    sealed = seal_of(original, seal, parties)

    assert_sealed(sealed, seal, tmp_path, signatures=3)
    texts = page_texts(sealed)
    assert len(texts) > 4
    assert "page 1 of" in texts[3] and f"page {len(texts) - 3} of {len(texts) - 3}" in texts[-1]
    joined = " ".join(" ".join(texts[3:]).split())
    assert joined.count("step 40: opened the document") == 3


def test_verify_reports_the_original_and_rejects_a_tampered_file(
    seal: SealKey, original: bytes, tmp_path: Path
) -> None:
    sealed = seal_of(original, seal, [party("Alice Anders", "signer")])

    report = verify_pdf(sealed, trusted=seal)
    assert report.ok and hashlib.sha256(original).hexdigest() in report.revision_sha256
    (check,) = report.signatures
    assert check.signer == "Acme Law seal" and check.name == "Alice Anders"
    assert check.signed_at is not None and check.timestamped_at is None

    position = sealed.index(b"stream", 200) + 20
    tampered = sealed[:position] + bytes([sealed[position] ^ 1]) + sealed[position + 1 :]
    assert not verify_pdf(tampered, trusted=seal).ok

    appended = sealed + b"\n% added later\n"
    assert not verify_pdf(appended, trusted=seal).ok

    other = create_self_signed_seal(tmp_path / "other", common_name="Other")
    assert not verify_pdf(sealed, trusted=load_seal_key(*other)).ok


def test_verify_an_unsigned_pdf_and_a_file_that_is_no_pdf(seal: SealKey, original: bytes) -> None:
    report = verify_pdf(original, trusted=seal)
    assert not report.ok and report.signatures == ()

    with pytest.raises(InvalidInput, match="not a readable PDF"):
        verify_pdf(b"GIF89a not a pdf", trusted=seal)


# -- refusals before anything is signed ----------------------------------------------------


def test_a_pdf_that_is_not_on_the_certificate_is_refused(seal: SealKey, original: bytes) -> None:
    other = make_pdf("Something else", pages=1)
    certificate = certificate_for(original, [party("Alice Anders", "signer")])

    with pytest.raises(InvalidInput, match="not one of the documents"):
        seal_pdf(other, key=seal, certificate=certificate)


def test_a_file_that_is_not_a_pdf_is_refused(seal: SealKey) -> None:
    junk = b"PK\x03\x04 this is a zip"
    with pytest.raises(InvalidInput, match="not a readable PDF"):
        seal_of(junk, seal, [party("Alice Anders", "signer")])


def test_an_encrypted_pdf_is_refused(seal: SealKey) -> None:
    writer = PdfFileWriter()
    writer.encrypt("owner-secret", "user-secret")
    out = io.BytesIO()
    writer.write(out)

    with pytest.raises(InvalidInput, match="encrypted"):
        seal_of(out.getvalue(), seal, [party("Alice Anders", "signer")])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"signature_png": b"\x89PNG\r\n\x1a\n broken"}, "drawn signature of Alice Anders is not"),
        ({"signature_png": b"GIF89a......"}, "drawn signature of Alice Anders is not"),
        ({"role": "approver", "signature_png": b"x"}, "only signers have a drawn signature"),
        ({"decided_at": DECIDED.replace(tzinfo=None)}, "must carry a time zone"),
        ({"name": "  "}, "needs a name"),
        ({"role": "viewer"}, "records signers and approvers"),
    ],
)
def test_a_bad_party_is_refused(
    seal: SealKey, original: bytes, change: dict[str, object], message: str
) -> None:
    record = party("Alice Anders", "signer")
    broken = PartyRecord(decision=replace(record.decision, **change), events=record.events)  # type: ignore[arg-type]

    with pytest.raises(InvalidInput, match=message):
        seal_of(original, seal, [broken])


def test_a_certificate_without_parties_or_with_a_bad_hash_is_refused(
    seal: SealKey, original: bytes
) -> None:
    certificate = certificate_for(original, [party("Alice Anders", "signer")])
    with pytest.raises(InvalidInput, match="at least one deciding party"):
        seal_pdf(original, key=seal, certificate=replace(certificate, parties=()))
    bad = (*certificate.documents, DocumentEntry("Annex B", "annex-b.pdf", "not-a-hash"))
    with pytest.raises(InvalidInput, match="annex-b.pdf is not 64 hex digits"):
        seal_pdf(original, key=seal, certificate=replace(certificate, documents=bad))


# -- timestamps ----------------------------------------------------------------------------


@pytest.fixture
async def tsa() -> AsyncIterator[tuple[str, asn1_x509.Certificate, list[int]]]:
    """An RFC 3161 responder on 127.0.0.1 (pyHanko's DummyTimeStamper behind HTTP)."""
    cert, key = tsa_identity()
    stamp = answering_with(DummyTimeStamper(tsa_cert=cert, tsa_key=key))
    requests: list[int] = []

    async def answer(request: web.Request) -> web.StreamResponse:
        requests.append(1)
        return await stamp(request)

    async with serving_tsa(answer) as url:
        yield url, cert, requests


@pytest.fixture
async def failing_tsa() -> AsyncIterator[str]:
    async def fail(request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")

    async with serving_tsa(fail) as url:
        yield url


async def test_with_a_tsa_every_signature_is_timestamped_and_a_document_timestamp_closes_the_file(
    seal: SealKey,
    original: bytes,
    tmp_path: Path,
    tsa: tuple[str, asn1_x509.Certificate, list[int]],
) -> None:
    url, tsa_cert, requests = tsa
    parties = [party(name, role, drawn=role == "signer") for name, role in PEOPLE]

    sealed = await asyncio.to_thread(
        seal_of,
        original,
        seal,
        parties,
        timestamper=HTTPTimeStamper(url),
        fetcher_backend=AIOHttpFetcherBackend(),
    )

    # one first token to learn the TSA's chain, one per party, one closing the file
    assert len(requests) == 1 + 3 + 1
    await asyncio.to_thread(
        assert_sealed,
        sealed,
        seal,
        tmp_path,
        signatures=3,
        extra_trust=[tsa_cert],
        closing_timestamp=True,
    )
    report = await asyncio.to_thread(verify_pdf, sealed, trusted=[*seal.trust_anchors, tsa_cert])
    assert report.ok
    *signed, closing = report.signatures
    assert [check.kind for check in signed] == ["signature"] * 3
    assert all(check.timestamped_at is not None for check in signed)
    assert closing.kind == "timestamp" and closing.signer == "Test TSA"
    assert closing.field == "InkpostSeal-S-17-timestamp" and closing.covers_whole_file
    reader = PdfFileReader(io.BytesIO(sealed))
    dss = reader.root["/DSS"]
    embedded = {Certificate.load(c.get_object().data).sha256 for c in dss["/Certs"]}
    assert {seal.certificate.sha256, tsa_cert.sha256} <= embedded
    stamp = reader.embedded_signatures[-1]
    assert int(stamp.signed_revision) > int(reader.embedded_signatures[-2].signed_revision)


async def test_any_injected_timestamper_stamps_every_signature(
    seal: SealKey, original: bytes
) -> None:
    cert, key = tsa_identity()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    parties = [party("Alice Anders", "signer"), party("Bob Berg", "approver")]

    sealed = await asyncio.to_thread(seal_of, original, seal, parties, timestamper=stamper)

    report = await asyncio.to_thread(verify_pdf, sealed, trusted=[*seal.trust_anchors, cert])
    assert report.ok
    assert [check.kind for check in report.signatures] == ["signature", "signature", "timestamp"]
    assert all(check.timestamped_at is not None for check in report.signatures[:2])


async def test_a_closing_timestamp_by_an_unknown_tsa_leaves_the_seal_intact_but_untrusted(
    seal: SealKey, original: bytes, tsa: tuple[str, asn1_x509.Certificate, list[int]]
) -> None:
    url, _, _ = tsa
    sealed = await asyncio.to_thread(
        seal_of, original, seal, [party("Alice Anders", "signer")], timestamper=HTTPTimeStamper(url)
    )

    report = await asyncio.to_thread(verify_pdf, sealed, trusted=seal)
    signature, closing = report.signatures
    assert signature.ok and closing.intact and closing.valid and not closing.trusted
    assert not report.ok


@pytest.mark.parametrize("client", [HTTPTimeStamper, HttpTimestamper])
async def test_a_tsa_answering_503_fails_sealing_naming_the_status(
    seal: SealKey, original: bytes, client: type[HTTPTimeStamper]
) -> None:
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async with serving_tsa(unavailable) as url:
        with pytest.raises(SealingFailed) as failed:
            await asyncio.to_thread(
                seal_of,
                original,
                seal,
                [party("Alice Anders", "signer")],
                timestamper=client(url, timeout=5),
            )

    message = str(failed.value)
    assert message.startswith(f"the timestamp authority {url} failed: 503")
    assert "Service Unavailable" in message and "sha256" not in message


async def test_the_worker_tsa_client_refuses_an_answer_that_is_no_timestamp_reply() -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    async with serving_tsa(html) as url:
        with pytest.raises(TimestampRequestError, match="text/html, not application/timestamp"):
            await HttpTimestamper(url, timeout=5).async_timestamp(b"\0" * 32, "sha256")


async def test_the_worker_tsa_client_serves_every_event_loop_that_asks(
    seal: SealKey, original: bytes, tsa: tuple[str, asn1_x509.Certificate, list[int]]
) -> None:
    """One client is shared by the server's loop (checkpoints) and each seal's own loop."""
    url, tsa_cert, requests = tsa
    client = HttpTimestamper(url, timeout=5)
    parties = [party("Alice Anders", "signer")]

    token = await client.async_timestamp(hashlib.sha256(b"checkpoint").digest(), "sha256")
    for _ in range(2):
        sealed = await asyncio.to_thread(seal_of, original, seal, parties, timestamper=client)
        report = await asyncio.to_thread(verify_pdf, sealed, trusted=[seal.certificate, tsa_cert])
        assert report.ok
    assert token["content"]["certificates"][0].chosen.sha256 == tsa_cert.sha256
    # the checkpoint's; the first seal's trial token (kept for later); each seal's two
    assert len(requests) == 1 + 1 + 2 * 2


async def test_a_tsa_that_refuses_connections_fails_sealing(seal: SealKey, original: bytes) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/tsa"

    with pytest.raises(SealingFailed, match="timestamp authority .* failed"):
        await asyncio.to_thread(
            seal_of,
            original,
            seal,
            [party("Alice Anders", "signer")],
            timestamper=HTTPTimeStamper(url),
        )


# -- seal keys -----------------------------------------------------------------------------


def test_a_new_seal_is_p256_with_a_private_key_file_only_its_owner_reads(tmp_path: Path) -> None:
    cert_path, key_path = create_self_signed_seal(tmp_path / "seal", common_name="Acme Law seal")

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert cert.subject == cert.issuer
    loaded = load_seal_key(cert_path, key_path)
    assert loaded.common_name == "Acme Law seal" and loaded.chain == ()


def test_an_existing_seal_is_never_replaced(tmp_path: Path) -> None:
    cert_path, key_path = create_self_signed_seal(tmp_path, common_name="First")
    before = key_path.read_bytes(), cert_path.read_bytes()

    with pytest.raises(FileExistsError, match="never replaced"):
        create_self_signed_seal(tmp_path, common_name="Second")

    assert (key_path.read_bytes(), cert_path.read_bytes()) == before


def _encrypted_copy(key_path: Path, target: Path, passphrase: str) -> Path:
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    target.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
    )
    return target


def test_an_encrypted_key_opens_with_its_passphrase_only(
    seal_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_path, key_path = seal_files
    locked = _encrypted_copy(key_path, tmp_path / "locked.key", "correct horse")

    assert load_seal_key(cert_path, locked, "correct horse").common_name == "Acme Law seal"
    with pytest.raises(BadSealKey, match="wrong passphrase"):
        load_seal_key(cert_path, locked, "battery staple")
    with pytest.raises(BadSealKey, match="is encrypted: a passphrase is needed"):
        load_seal_key(cert_path, locked)
    with pytest.raises(BadSealKey, match="is not encrypted: remove the passphrase"):
        load_seal_key(cert_path, key_path, "correct horse")


def test_a_key_of_another_certificate_is_refused(
    seal_files: tuple[Path, Path], tmp_path: Path
) -> None:
    _, other_key = create_self_signed_seal(tmp_path, common_name="Other")

    with pytest.raises(BadSealKey, match="does not match the seal certificate"):
        load_seal_key(seal_files[0], other_key)


def test_missing_and_unreadable_seal_files_are_named(
    seal_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert_path, key_path = seal_files
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("hello")

    with pytest.raises(BadSealKey, match=f"seal key file not found: {tmp_path}/nope.key"):
        load_seal_key(cert_path, tmp_path / "nope.key")
    with pytest.raises(BadSealKey, match="seal certificate file not found"):
        load_seal_key(tmp_path / "nope.pem", key_path)
    with pytest.raises(BadSealKey, match="no PEM certificate"):
        load_seal_key(garbage, key_path)
    with pytest.raises(BadSealKey, match="is not a PEM private key"):
        load_seal_key(cert_path, garbage)


def test_an_expired_seal_is_refused(seal_files: tuple[Path, Path]) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3651)
    with pytest.raises(BadSealKey, match="expired on"):
        load_seal_key(*seal_files, now=later)


def test_a_pkcs12_seal_loads_and_seals(
    seal_files: tuple[Path, Path], tmp_path: Path, original: bytes
) -> None:
    cert_path, key_path = seal_files
    bundle = tmp_path / "seal.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal",
            serialization.load_pem_private_key(key_path.read_bytes(), None),  # type: ignore[arg-type]
            x509.load_pem_x509_certificate(cert_path.read_bytes()),
            None,
            serialization.BestAvailableEncryption(b"p12 secret"),
        )
    )

    loaded = load_seal_pkcs12(bundle, "p12 secret")
    sealed = seal_of(original, loaded, [party("Alice Anders", "signer")])
    assert verify_pdf(sealed, trusted=load_seal_key(cert_path, key_path)).ok
    with pytest.raises(BadSealKey, match="wrong passphrase"):
        load_seal_pkcs12(bundle, "guess")
    with pytest.raises(BadSealKey, match="seal PKCS#12 file not found"):
        load_seal_pkcs12(tmp_path / "none.p12", "p12 secret")
