"""Sealing a completed request's PDF with the organisation's seal, and checking a sealed one.

``seal_pdf`` appends the completion certificate, then adds one incremental PAdES signature
(``ETSI.CAdES.detached``) per deciding party, in decision order, each naming the party,
their role, the time of their decision and how they were identified. The original
document stays byte for byte the file's first revision. With a timestamp authority, every
signature carries an RFC 3161 timestamp, the validation data is embedded (PAdES B-LT) and a
closing document timestamp covers the whole file (B-LTA). A failure is ``SealingFailed``:
there is no fallback to an unsealed or untimestamped result.

The network clients are the caller's: the timestamp authority's (a pyHanko
``TimeStamper``, such as ``HTTPTimeStamper(url)``) and the fetchers of revocation data (a
``FetcherBackend``); nothing here opens a connection of its own.

Both functions are pure (bytes and dataclasses in, bytes or a report out), CPU-bound, and
run their own event loop (pyHanko is async inside), so async code calls them in
a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers import FetcherBackend, OwnedFetcherBackend

from workflows.errors import InvalidInput, Unavailable
from workflows.signing import certificate as certificate_page
from workflows.signing.certificate import (
    AuditHead,
    CertificateInfo,
    DocumentEntry,
    PartyDecision,
    PartyEvent,
    PartyRecord,
    utc,
)
from workflows.signing.seal_keys import (
    BadSealKey,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    load_seal_pkcs12,
)

__all__ = [
    "AuditHead",
    "BadSealKey",
    "CertificateInfo",
    "DocumentEntry",
    "PartyDecision",
    "PartyEvent",
    "PartyRecord",
    "SealKey",
    "SealingFailed",
    "SignatureCheck",
    "VerifyReport",
    "create_self_signed_seal",
    "load_seal_key",
    "load_seal_pkcs12",
    "seal_pdf",
    "signature_reason",
    "verify_pdf",
]

STAMP_WIDTH, STAMP_HEIGHT, STAMP_GAP, STAMP_MARGIN = 170.0, 72.0, 10.0, 36.0
MAX_DRAWING_PIXELS = 4_000_000


_DSS_IN_SIGNATURE_REVISION = DSSContentSettings(
    placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
)
"""Validation data goes into the revision of the signature it serves, so the last
signature still covers the whole file (no trailing DSS-only update)."""


class SealingFailed(Unavailable):
    """The seal could not be applied (the timestamp authority failed, or pyHanko refused);
    the request stays unsealed and sealing is to be tried again."""


@dataclass(frozen=True)
class SignatureCheck:
    """One signature (or document timestamp) of a PDF, as a verifier sees it."""

    field: str
    kind: Literal["signature", "timestamp"]
    signer: str
    """The certificate's common name: the seal, or the timestamp authority."""
    name: str | None
    reason: str | None
    signed_at: dt.datetime | None
    timestamped_at: dt.datetime | None
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool

    @property
    def ok(self) -> bool:
        return self.intact and self.valid and self.trusted


@dataclass(frozen=True)
class VerifyReport:
    signatures: tuple[SignatureCheck, ...]
    revision_sha256: tuple[str, ...]
    """SHA-256 of the file as it stood at the end of each revision, oldest first: a sealed
    PDF's first one is the original document's."""

    @property
    def ok(self) -> bool:
        """Sealed, every signature intact, valid and trusted, nothing added after the last."""
        return (
            bool(self.signatures)
            and all(check.ok for check in self.signatures)
            and self.signatures[-1].covers_whole_file
        )


def signature_reason(decision: PartyDecision) -> str:
    """What a party's signature says: who, in which role, decided when, identified how."""
    reason = (
        f"{decision.name}, {decision.role}, {decision.verb} on {utc(decision.decided_at)}; "
        f"identified by {decision.auth_level}"
    )
    if decision.on_behalf_of:
        reason += f"; on behalf of {decision.on_behalf_of}"
    return reason


def seal_pdf(
    pdf: bytes,
    *,
    key: SealKey,
    certificate: CertificateInfo,
    timestamper: TimeStamper | None = None,
    fetcher_backend: FetcherBackend | None = None,
    tsa_trust: Sequence[asn1_x509.Certificate] = (),
) -> bytes:
    """``pdf`` with the completion certificate appended and one seal signature per party
    of ``certificate`` (in its order). ``pdf`` must be one of the certificate's documents.

    With ``timestamper``, every signature is timestamped and the validation data of the
    seal's and the TSA's certificates is embedded: their revocation data as
    ``fetcher_backend`` fetches it (without one, only what the chains carry). The sealing
    runs in an event loop of its own, so the backend's session is closed when it ends (a
    lazily opened one, as pyHanko's ``AIOHttpFetcherBackend()`` keeps, opens again for the
    next); a backend serves one sealing at a time. ``tsa_trust`` adds roots to look for
    when the TSA does not send its whole chain."""
    certificate_page.check(certificate)
    sealed_sha256 = hashlib.sha256(pdf).hexdigest()
    if sealed_sha256 not in {d.sha256.lower() for d in certificate.documents}:
        raise InvalidInput("this PDF is not one of the documents listed on the certificate")
    drawings = [_drawing(record.decision) for record in certificate.parties]
    writer = _writer(pdf)
    plan = _Plan(
        key=key,
        certificate=certificate,
        sealed_sha256=sealed_sha256,
        drawings=drawings,
        timestamper=timestamper,
        fetcher_backend=fetcher_backend,
        tsa_trust=tuple(tsa_trust),
    )
    try:
        return asyncio.run(_seal(writer, plan))
    except SealingFailed:
        raise
    except (TimestampRequestError, SigningError, PdfError, ValueError) as error:
        raise SealingFailed(_failure(error, timestamper)) from error


@dataclass(frozen=True)
class _Plan:
    key: SealKey
    certificate: CertificateInfo
    sealed_sha256: str
    drawings: list[Image.Image | None]
    timestamper: TimeStamper | None
    fetcher_backend: FetcherBackend | None
    tsa_trust: tuple[asn1_x509.Certificate, ...]


async def _seal(writer: IncrementalPdfFileWriter, plan: _Plan) -> bytes:
    stamp_page = int(writer.root["/Pages"]["/Count"]) - 1
    page_width = _page_width(writer, stamp_page)
    certificate_page.append_certificate(
        writer,
        plan.certificate,
        sealed_sha256=plan.sealed_sha256,
        seal_name=plan.key.common_name,
    )
    timestamper = plan.timestamper
    context = await _signing_context(plan, timestamper) if timestamper else None
    try:
        return await _sign_each(
            writer, plan, context=context, stamp_page=stamp_page, page_width=page_width
        )
    finally:
        if context is not None:
            await context.aclose()


async def _sign_each(
    writer: IncrementalPdfFileWriter,
    plan: _Plan,
    *,
    context: ValidationContext | None,
    stamp_page: int,
    page_width: float,
) -> bytes:
    """One seal signature per party, each in a revision of its own."""
    timestamper = plan.timestamper
    prefix = _field_prefix(plan.certificate.request_ref)
    parties = plan.certificate.parties
    stamps_placed, stamps_total = 0, sum(drawing is not None for drawing in plan.drawings)
    data = b""
    for number, (record, drawing) in enumerate(zip(parties, plan.drawings, strict=True), start=1):
        if number > 1:
            writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        decision = record.decision
        meta = signers.PdfSignatureMetadata(
            field_name=f"{prefix}-{number}",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=signature_reason(decision),
            name=decision.name,
            embed_validation_info=context is not None,
            validation_context=context,
            dss_settings=_DSS_IN_SIGNATURE_REVISION,
            signer_key_usage={"digital_signature"},
        )
        spec = fields.SigFieldSpec(sig_field_name=meta.field_name or "")
        style = None
        if drawing is not None:
            spec = fields.SigFieldSpec(
                sig_field_name=meta.field_name or "",
                on_page=stamp_page,
                box=_stamp_box(stamps_placed, stamps_total, page_width),
            )
            style = _stamp_style(drawing)
            stamps_placed += 1
        pdf_signer = signers.PdfSigner(
            meta,
            signer=plan.key.signer,
            timestamper=timestamper,
            stamp_style=style,
            new_field_spec=spec,
        )
        output = await pdf_signer.async_sign_pdf(
            writer,
            bytes_reserved=None if timestamper else _room_for_signature(plan.key),
            output=io.BytesIO(),
            appearance_text_params={
                "party": certificate_page.winansi(decision.name)[0],
                "when": utc(decision.decided_at),
            },
        )
        data = output.getvalue()
    return data


def _room_for_signature(key: SealKey) -> int:
    """Bytes to reserve for a signature without a timestamp: its certificates, the signed
    attributes and the signature value fit with a wide margin. Knowing this up front spares
    pyHanko a trial signature per party to measure it."""
    certificates = sum(len(cert.dump()) for cert in key.trust_anchors)
    return 4096 + 2 * certificates


def _writer(pdf: bytes) -> IncrementalPdfFileWriter:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    except (PdfError, ValueError, KeyError, IndexError) as error:
        raise InvalidInput("this file is not a readable PDF") from error
    if writer.prev.encrypted:
        raise InvalidInput("an encrypted PDF cannot be sealed")
    try:
        pages = int(writer.root["/Pages"]["/Count"])
    except (PdfError, KeyError, TypeError, ValueError) as error:
        raise InvalidInput("this PDF has no readable page tree") from error
    if pages < 1:
        raise InvalidInput("this PDF has no pages")
    return writer


def _drawing(decision: PartyDecision) -> Image.Image | None:
    """The party's drawn signature as an image, checked before anything is signed."""
    if decision.signature_png is None:
        return None
    if decision.role != "signer":
        raise InvalidInput(f"{decision.name} approves: only signers have a drawn signature")
    problem = f"the drawn signature of {decision.name} is not a PNG image"
    image: Image.Image
    try:
        image = Image.open(io.BytesIO(decision.signature_png), formats=["PNG"])
        if image.width * image.height > MAX_DRAWING_PIXELS:
            raise InvalidInput(f"the drawn signature of {decision.name} is too large")
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise InvalidInput(problem) from e
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    return image


def _stamp_style(drawing: Image.Image) -> TextStampStyle:
    return TextStampStyle(
        stamp_text="%(party)s\n%(when)s",
        background=PdfImage(drawing),
        background_opacity=1.0,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MAX,
            margins=Margins(left=2, right=2, top=2, bottom=22),
        ),
        inner_content_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MIN,
            y_align=AxisAlignment.ALIGN_MIN,
            margins=Margins(left=2, right=2, top=2, bottom=2),
        ),
        border_width=0,
    )


def _stamp_box(index: int, total: int, page_width: float) -> tuple[int, int, int, int]:
    """Stamps sit in rows along the bottom of the page, right-aligned, in decision order
    from left to right."""
    usable = page_width - 2 * STAMP_MARGIN + STAMP_GAP
    per_row = max(1, int(usable // (STAMP_WIDTH + STAMP_GAP)))
    row, position = divmod(index, per_row)
    in_row = min(per_row, total - row * per_row)
    from_right = in_row - 1 - position
    right = page_width - STAMP_MARGIN - from_right * (STAMP_WIDTH + STAMP_GAP)
    bottom = STAMP_MARGIN + row * (STAMP_HEIGHT + STAMP_GAP)
    return (
        round(right - STAMP_WIDTH),
        round(bottom),
        round(right),
        round(bottom + STAMP_HEIGHT),
    )


def _page_width(writer: IncrementalPdfFileWriter, page_index: int) -> float:
    page_ref, _ = writer.find_page_for_modification(page_index)
    node = page_ref.get_object()
    while node is not None:
        if "/MediaBox" in node:
            left, _, right, _ = (float(v) for v in node["/MediaBox"])
            return abs(right - left)
        node = node.get("/Parent")
        node = node.get_object() if node is not None else None
    return certificate_page.PAGE_WIDTH


def _field_prefix(request_ref: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]", "", request_ref)
    return f"InkpostSeal-{cleaned}" if cleaned else "InkpostSeal"


async def _signing_context(plan: _Plan, timestamper: TimeStamper) -> ValidationContext:
    """Trust for collecting the validation data to embed: the seal's chain, the roots
    given for the TSA, and the top of the chain the TSA presents in a first token. Whether
    to trust the TSA is for whoever verifies the PDF; this only gathers what they need.
    The context closes the fetchers' session when the sealing ends (`_seal`)."""
    token = await timestamper.async_dummy_response("sha256")
    backend = plan.fetcher_backend
    return ValidationContext(
        trust_roots=[*plan.key.trust_anchors, *plan.tsa_trust, *_chain_tops(token)],
        allow_fetching=backend is not None,
        fetcher_backend=OwnedFetcherBackend(backend) if backend is not None else None,
    )


def _chain_tops(token: cms.ContentInfo) -> list[asn1_x509.Certificate]:
    certs = [
        choice.chosen
        for choice in token["content"]["certificates"] or ()
        if isinstance(choice.chosen, asn1_x509.Certificate)
    ]
    subjects = {cert.subject.dump() for cert in certs}
    return [cert for cert in certs if cert.self_signed or cert.issuer.dump() not in subjects]


def _failure(error: BaseException, timestamper: TimeStamper | None) -> str:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if timestamper is not None and any(isinstance(e, TimestampRequestError) for e in chain):
        detail = str(chain[-1]) or type(chain[-1]).__name__
        # An HTTP timestamper knows its address; another is named by its type.
        authority = getattr(timestamper, "url", None) or type(timestamper).__name__
        return f"the timestamp authority {authority} failed: {detail}"
    return f"sealing failed: {error}"


# Verifying ------------------------------------------------------------------------------


def verify_pdf(pdf: bytes, *, trusted: SealKey | Sequence[asn1_x509.Certificate]) -> VerifyReport:
    """Check every signature and document timestamp of ``pdf`` against ``trusted`` (a
    seal or certificates). Nothing is fetched from the network: an uploaded file must not
    make the server call addresses it names."""
    anchors = list(trusted.trust_anchors if isinstance(trusted, SealKey) else trusted)
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = list(reader.embedded_signatures)
    except (PdfError, ValueError, KeyError, IndexError) as error:
        raise InvalidInput("this file is not a readable PDF") from error
    checks = []
    for signature in embedded:
        context = ValidationContext(trust_roots=anchors, allow_fetching=False)
        checks.append(_check(signature, context))
    return VerifyReport(signatures=tuple(checks), revision_sha256=_revision_digests(pdf))


def _check(signature: EmbeddedPdfSignature, context: ValidationContext) -> SignatureCheck:
    is_timestamp = signature.sig_object.get("/Type") == "/DocTimeStamp"
    status: PdfSignatureStatus | DocumentTimestampStatus
    try:
        if is_timestamp:
            status = validate_pdf_timestamp(signature, validation_context=context)
        else:
            status = validate_pdf_signature(signature, signer_validation_context=context)
    except (SigningError, PdfError, ValueError) as error:
        raise InvalidInput(f"signature {signature.field_name} cannot be read: {error}") from error
    signer = (
        str(status.signing_cert.subject.native.get("common_name", ""))
        if status.signing_cert
        else ""
    )
    timestamp = getattr(status, "timestamp_validity", None)
    signed_at = getattr(status, "signer_reported_dt", None)
    if is_timestamp:
        signed_at = getattr(status, "timestamp", None)
    return SignatureCheck(
        field=signature.field_name,
        kind="timestamp" if is_timestamp else "signature",
        signer=signer,
        name=_text(signature.sig_object.get("/Name")),
        reason=_text(signature.sig_object.get("/Reason")),
        signed_at=signed_at,
        timestamped_at=timestamp.timestamp if timestamp is not None else None,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
    )


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")


def _revision_digests(pdf: bytes) -> tuple[str, ...]:
    return tuple(hashlib.sha256(pdf[: m.end()]).hexdigest() for m in _EOF.finditer(pdf))
