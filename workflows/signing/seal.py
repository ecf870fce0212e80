"""Sealing a completed request's PDF with the organisation's seal, and checking a sealed one.

``seal_pdf`` appends the completion certificate, then adds one incremental PAdES signature
(``ETSI.CAdES.detached``) per deciding party, in decision order, each naming the party,
their role, the time of their decision and how they were identified. The original
document stays byte for byte the file's first revision. A PDF that already carries
signatures gets no pages, which would break them; its certificate is then a sealed PDF of
its own (``seal_certificate``). Without a timestamp authority
the result is PAdES B-B. With one it is B-LTA: every signature carries an RFC 3161
timestamp (B-T); the certificates and the revocation data (CRLs, OCSP responses) of the
seal's and the TSA's chains are embedded in the document security store (B-LT); and a
closing document timestamp covers the whole file, that store included (B-LTA). A
certificate whose revocation data cannot be had fails the sealing instead of giving a
weaker result. A failure is ``SealingFailed`` (try again later) or ``BadSealKey`` (the
seal itself is unusable, for example revoked): there is no fallback to an unsealed,
untimestamped or incomplete result.

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
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.pdf_embedded import (
    EmbeddedPdfSignature,
    read_certification_data,
)
from pyhanko.sign.validation.status import (
    DocumentTimestampStatus,
    PdfSignatureStatus,
    SignatureCoverageLevel,
)
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    RevokedError,
    ValidationError,
)
from pyhanko_certvalidator.fetchers import FetcherBackend
from pyhanko_certvalidator.path import ValidationPath

from workflows.errors import InvalidInput, Unavailable
from workflows.signing import certificate as certificate_page
from workflows.signing import typeface
from workflows.signing.certificate import (
    AuditHead,
    CertificateInfo,
    DocumentEntry,
    PartyDecision,
    PartyEvent,
    PartyRecord,
    PriorSignatures,
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
    "PriorSignatures",
    "SealKey",
    "SealingFailed",
    "SignatureCheck",
    "VerifyReport",
    "create_self_signed_seal",
    "load_seal_key",
    "load_seal_pkcs12",
    "prior_signatures",
    "seal_certificate",
    "seal_pdf",
    "signature_reason",
    "verify_pdf",
]

STAMP_WIDTH, STAMP_HEIGHT, STAMP_GAP, STAMP_MARGIN = 170.0, 72.0, 10.0, 36.0
MAX_DRAWING_PIXELS = 4_000_000


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
    changes_permitted: bool = True
    """Whatever the file's later revisions changed, this signature permits (pyHanko's
    difference analysis): form filling and further signatures, not edited or added
    pages."""

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
    A PDF that already carries signatures gets no pages and no drawn signatures, only the
    seal's signatures (which keep the earlier ones valid): its certificate is the PDF
    ``seal_certificate`` makes. One certified against any change cannot be sealed at all.

    Before anything is signed, the seal's certificate is checked against the revocation
    data ``fetcher_backend`` fetches (a revoked seal is a ``BadSealKey``). With
    ``timestamper``, the result is PAdES B-LTA (see the module's note); the revocation
    data of every certificate below the top of the seal's and the TSA's chains comes from
    ``fetcher_backend``, so without one a chain that declares CRL or OCSP addresses
    cannot be sealed. ``tsa_trust`` names roots for a TSA that does not send its whole
    chain. The sealing runs in an event loop of its own, so the backend's session is
    closed when it ends (a lazily opened one, as pyHanko's ``AIOHttpFetcherBackend()``
    keeps, opens again for the next); a backend serves one sealing at a time."""
    certificate_page.check(certificate)
    sealed_sha256 = hashlib.sha256(pdf).hexdigest()
    if sealed_sha256 not in {d.sha256.lower() for d in certificate.documents}:
        raise InvalidInput("this PDF is not one of the documents listed on the certificate")
    writer = _writer(pdf)
    prior = _prior_signatures(writer.prev)
    if prior == "unchangeable":
        raise InvalidInput(
            "this PDF is certified against any change: not even a seal can be added to it"
        )
    opaque = _pdfa_part(writer) == 1
    drawings = [_drawing(record.decision, opaque=opaque) for record in certificate.parties]
    plan = _Plan(
        key=key,
        certificate=certificate,
        sealed_sha256=sealed_sha256,
        drawings=drawings if prior == "none" else [None] * len(drawings),
        timestamper=timestamper,
        fetcher_backend=fetcher_backend,
        tsa_trust=tuple(tsa_trust),
        append_certificate=prior == "none",
    )
    return _run(writer, plan)


def seal_certificate(
    *,
    key: SealKey,
    certificate: CertificateInfo,
    timestamper: TimeStamper | None = None,
    fetcher_backend: FetcherBackend | None = None,
    tsa_trust: Sequence[asn1_x509.Certificate] = (),
) -> bytes:
    """The completion certificate as a sealed PDF of its own, for a request whose
    documents carried signatures before (``DocumentEntry.prior``): one seal signature per
    party, as on a document, with the drawn signatures at the foot of its last page. The
    other arguments are ``seal_pdf``'s."""
    certificate_page.check(certificate)
    drawings = [_drawing(record.decision) for record in certificate.parties]
    drawn = sum(drawing is not None for drawing in drawings)
    rows = -(-drawn // _stamps_per_row(certificate_page.PAGE_WIDTH))
    height = rows * (STAMP_HEIGHT + STAMP_GAP) - STAMP_GAP if rows else 0.0
    made = certificate_page.standalone_certificate(
        certificate, seal_name=key.common_name, drawings_height=height
    )
    plan = _Plan(
        key=key,
        certificate=certificate,
        sealed_sha256=hashlib.sha256(made.pdf).hexdigest(),
        drawings=drawings,
        timestamper=timestamper,
        fetcher_backend=fetcher_backend,
        tsa_trust=tuple(tsa_trust),
        append_certificate=False,
        stamps=_Stamps(
            page=made.pages - 1,
            page_width=certificate_page.PAGE_WIDTH,
            top=made.stamp_top,
            left=certificate_page.MARGIN,
        ),
    )
    return _run(_writer(made.pdf), plan)


def prior_signatures(pdf: bytes) -> PriorSignatures:
    """Whether ``pdf`` carries signatures (or document timestamps) already, and whether
    one of them forbids any change."""
    return _prior_signatures(_writer(pdf).prev)


def _run(writer: IncrementalPdfFileWriter, plan: _Plan) -> bytes:
    try:
        return asyncio.run(_seal(writer, plan))
    except (SealingFailed, BadSealKey):
        raise
    except (TimestampRequestError, SigningError, PdfError, ValueError) as error:
        raise SealingFailed(_failure(error, plan.timestamper)) from error


@dataclass(frozen=True)
class _Plan:
    key: SealKey
    certificate: CertificateInfo
    sealed_sha256: str
    drawings: list[Image.Image | None]
    timestamper: TimeStamper | None
    fetcher_backend: FetcherBackend | None
    tsa_trust: tuple[asn1_x509.Certificate, ...]
    append_certificate: bool = True
    stamps: _Stamps | None = None
    """Where the drawn signatures go; by default at the foot of the document's last page."""


async def _seal(writer: IncrementalPdfFileWriter, plan: _Plan) -> bytes:
    try:
        context = await _validation_context(plan)
        evidence = await _validation_paths(context, plan)
        stamps = plan.stamps or _stamps_on_last_page(writer)
        if plan.append_certificate:
            certificate_page.append_certificate(
                writer,
                plan.certificate,
                sealed_sha256=plan.sealed_sha256,
                seal_name=plan.key.common_name,
                drawings_on_page=stamps.page + 1,
            )
        data = await _sign_each(writer, plan, stamps=stamps)
        if plan.timestamper is None:
            return data
        prefix = _field_prefix(plan.certificate.request_ref)
        return await _close_with_timestamp(
            data, plan.timestamper, context=context, evidence=evidence, prefix=prefix
        )
    finally:
        # The backend's session belongs to this event loop, which ends with the sealing.
        if plan.fetcher_backend is not None:
            await plan.fetcher_backend.close()


async def _sign_each(writer: IncrementalPdfFileWriter, plan: _Plan, *, stamps: _Stamps) -> bytes:
    """One seal signature per party, each in a revision of its own (timestamped when
    there is a TSA). The certificates were checked once, before: pyHanko is given no
    validation context, so it does not check them again for every party."""
    timestamper = plan.timestamper
    prefix = _field_prefix(plan.certificate.request_ref)
    parties = plan.certificate.parties
    stamps_placed, stamps_total = 0, sum(drawing is not None for drawing in plan.drawings)
    stamp_page = stamps.reference or (_reference(writer, stamps.page) if stamps_total else None)
    room = await _room_for_signature(plan.key, timestamper)
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
            signer_key_usage={"digital_signature"},
        )
        spec: fields.SigFieldSpec | None = fields.SigFieldSpec(sig_field_name=meta.field_name or "")
        style = None
        if drawing is not None and stamp_page is not None:
            _place_field(
                writer,
                fields.SigFieldSpec(
                    sig_field_name=meta.field_name or "",
                    on_page=stamps.page,
                    box=stamps.box(stamps_placed, stamps_total),
                ),
                page=generic.IndirectObject(*stamp_page, writer),
            )
            spec = None  # the field is there: pyHanko signs it and draws the stamp in it
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
            bytes_reserved=room,
            output=io.BytesIO(),
            appearance_text_params={
                "party": typeface.printable(decision.name)[0],
                "when": utc(decision.decided_at),
            },
        )
        data = output.getvalue()
    return data


def _place_field(
    writer: IncrementalPdfFileWriter, spec: fields.SigFieldSpec, *, page: generic.IndirectObject
) -> None:
    """An empty signature field on ``page``, made as pyHanko makes a new one when it
    signs (its ``prepare_sig_field``, which it calls internal API: the version range in
    pyproject.toml holds it), but on a page known by its reference: pyHanko would look
    the page up by number, reading every page before it, once per party."""
    _, field = fields.prepare_sig_field(
        spec.sig_field_name,
        writer.root,
        update_writer=writer,
        box=spec.box,
        include_on_page=page,
        combine_annotation=spec.combine_annotation,
        invis_settings=spec.invis_sig_settings,
        visible_settings=spec.visible_sig_settings,
    )
    fields.apply_sig_field_spec_properties(
        writer, sig_field=field.get_object(), sig_field_spec=spec
    )


def _reference(writer: IncrementalPdfFileWriter, page_index: int) -> tuple[int, int]:
    """The object number and generation of a page, which every later revision keeps."""
    reference = writer.find_page_for_modification(page_index)[0]
    return reference.idnum, reference.generation


async def _close_with_timestamp(
    data: bytes,
    timestamper: TimeStamper,
    *,
    context: ValidationContext,
    evidence: Sequence[ValidationPath],
    prefix: str,
) -> bytes:
    """B-LTA: the validation data of every signature and of the TSA goes into the
    document security store, and a document timestamp over the whole file follows it in
    the same revision, so the timestamp covers the store too."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    DocumentSecurityStore.supply_dss_in_writer(
        writer, sig_contents=None, paths=evidence, validation_context=context
    )
    stamper = signers.PdfTimeStamper(timestamper, field_name=f"{prefix}-timestamp")
    output = await stamper.async_timestamp_pdf(writer, "sha256", output=io.BytesIO())
    return bytes(output.getvalue())


async def _room_for_signature(key: SealKey, timestamper: TimeStamper | None) -> int:
    """Bytes (hex digits) to reserve for a signature: its certificates, the signed
    attributes and the signature value fit with a wide margin, and a timestamp token
    the size of the TSA's first one with half as much again. Knowing this up front
    spares pyHanko a trial signature per party to measure it."""
    certificates = sum(len(cert.dump()) for cert in (key.certificate, *key.chain))
    room = 4096 + 2 * certificates
    if timestamper is not None:
        token = await timestamper.async_dummy_response("sha256")
        room += 2 * (len(token.dump()) * 3 // 2)
    return room


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


def _drawing(decision: PartyDecision, *, opaque: bool = False) -> Image.Image | None:
    """The party's drawn signature as an image, checked before anything is signed;
    ``opaque`` lays it on white (PDF/A-1 allows no transparency)."""
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
    if opaque and image.mode in ("RGBA", "LA"):
        white = Image.new("RGB", image.size, "white")
        white.paste(image, mask=image.getchannel("A"))
        image = white
    return image


def _prior_signatures(reader: PdfFileReader) -> PriorSignatures:
    try:
        signatures = reader.embedded_signatures
        if not signatures:
            return "none"
        certified = read_certification_data(reader)
    except (PdfError, ValueError, KeyError, TypeError) as error:
        raise InvalidInput("the signatures this PDF carries cannot be read") from error
    levels = [signature.docmdp_level for signature in signatures]
    if MDPPerm.NO_CHANGES in levels or (
        certified is not None and certified.permission == MDPPerm.NO_CHANGES
    ):
        return "unchangeable"
    return "signed"


_PDFA_PART = re.compile(rb"pdfaid:part(?:>|\s*=\s*[\"'])\s*(\d)")


def _pdfa_part(writer: IncrementalPdfFileWriter) -> int | None:
    """The PDF/A part the document's metadata declares, if any."""
    try:
        stream = writer.root["/Metadata"].get_object()
        found = _PDFA_PART.search(stream.data)
    except (KeyError, AttributeError, PdfError, ValueError):
        return None
    return int(found.group(1)) if found else None


def _stamp_style(drawing: Image.Image) -> TextStampStyle:
    return TextStampStyle(
        stamp_text="%(party)s\n%(when)s",
        text_box_style=TextBoxStyle(font=typeface.EmbeddedFont(), font_size=9),
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


@dataclass(frozen=True)
class _Stamps:
    """Where the drawn signatures go: a page (from 0) and its width; at the foot of the
    page, or, with ``top``, in rows downwards from there, from ``left``."""

    page: int
    page_width: float
    top: float | None = None
    left: float = STAMP_MARGIN
    reference: tuple[int, int] | None = None
    """The page's object number and generation, when known."""

    def box(self, index: int, total: int) -> tuple[int, int, int, int]:
        if self.top is None:
            return _stamp_box(index, total, self.page_width)
        row, position = divmod(index, _stamps_per_row(self.page_width))
        left = self.left + position * (STAMP_WIDTH + STAMP_GAP)
        top = self.top - row * (STAMP_HEIGHT + STAMP_GAP)
        return (round(left), round(top - STAMP_HEIGHT), round(left + STAMP_WIDTH), round(top))


def _stamps_on_last_page(writer: IncrementalPdfFileWriter) -> _Stamps:
    last = int(writer.root["/Pages"]["/Count"]) - 1
    page = _last_page(writer)
    return _Stamps(
        page=last,
        page_width=_page_width(page),
        reference=(page.idnum, page.generation),
    )


def _last_page(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    """The document's last page, found from the end of the page tree: one node read per
    level, where looking it up by number reads every page before it."""
    node = writer.root.raw_get("/Pages")
    seen: set[int] = set()
    while isinstance(node, generic.IndirectObject) and node.idnum not in seen:
        seen.add(node.idnum)
        kids = node.get_object().get("/Kids")
        if not isinstance(kids, generic.ArrayObject):
            break
        for index in reversed(range(len(kids))):
            kid = kids.raw_get(index)
            found = kid.get_object() if isinstance(kid, generic.IndirectObject) else None
            if not isinstance(found, generic.DictionaryObject):
                raise PdfError("the page tree holds something other than pages")
            if "/Kids" not in found:  # a page, not a node of pages
                return kid
            if int(found.get("/Count", 0)) > 0:
                node = kid
                break
        else:
            break
    raise PdfError("the page tree has no last page")


def _stamps_per_row(page_width: float) -> int:
    usable = page_width - 2 * STAMP_MARGIN + STAMP_GAP
    return max(1, int(usable // (STAMP_WIDTH + STAMP_GAP)))


def _stamp_box(index: int, total: int, page_width: float) -> tuple[int, int, int, int]:
    """Stamps sit in rows along the bottom of the page, right-aligned, in decision order
    from left to right."""
    per_row = _stamps_per_row(page_width)
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


def _page_width(page: generic.IndirectObject) -> float:
    node = page.get_object()
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


async def _validation_context(plan: _Plan) -> ValidationContext:
    """What the seal's and the TSA's certificates are checked against, and where their
    revocation data comes from. The trust anchors are the tops of the chains at hand
    (the seal's, the roots given for the TSA, and the chain the TSA presents in a first
    token): whether to trust them is for whoever verifies the PDF; this only gathers
    what they need. With a TSA or a fetcher backend, a certificate that declares where its
    revocation data is and cannot be checked stops the sealing (``hard-fail``); with
    neither (PAdES B-B, nothing to fetch with), only the path itself is checked."""
    presented: list[asn1_x509.Certificate] = []
    if plan.timestamper is not None:
        presented = _token_certificates(await plan.timestamper.async_dummy_response("sha256"))
    known = _unique([plan.key.certificate, *plan.key.chain, *plan.tsa_trust, *presented])
    backend = plan.fetcher_backend
    return ValidationContext(
        trust_roots=_unique([*plan.tsa_trust, *_chain_tops(known)]),
        other_certs=known,
        allow_fetching=backend is not None,
        fetcher_backend=backend,
        # Nothing known beforehand: with fetching off, hard-fail then refuses exactly the
        # certificates that declare where their revocation data is.
        crls=[],
        ocsps=[],
        revocation_mode="hard-fail" if plan.timestamper or backend else "soft-fail",
    )


async def _validation_paths(context: ValidationContext, plan: _Plan) -> list[ValidationPath]:
    """The seal's and the TSA's certification paths, checked now (revocation included),
    before anything is signed. A revoked seal is a ``BadSealKey``; a TSA that cannot be
    checked, or a seal whose status cannot be had now, a ``SealingFailed``."""
    key = plan.key
    validator = CertificateValidator(
        key.certificate, intermediate_certs=key.chain, validation_context=context
    )
    try:
        paths = [await validator.async_validate_path()]
    except RevokedError as error:
        raise BadSealKey(
            f"the seal certificate '{key.common_name}' was revoked {_revocation(error)}; "
            "nothing was sealed: configure a seal that is not revoked"
        ) from error
    except (InsufficientRevinfoError, PathBuildingError) as error:
        raise SealingFailed(
            f"the revocation status of the seal certificate '{key.common_name}' cannot be "
            f"checked: {_validation_problem(error)}"
        ) from error
    except ValidationError as error:
        raise BadSealKey(
            f"the seal certificate '{key.common_name}' is not valid: {_validation_problem(error)}"
        ) from error
    if plan.timestamper is None:
        return paths
    authority = getattr(plan.timestamper, "url", None) or type(plan.timestamper).__name__
    try:
        async for path in plan.timestamper.validation_paths(context):
            paths.append(path)
    except RevokedError as error:
        raise SealingFailed(
            f"the certificate of the timestamp authority {authority} was revoked "
            f"{_revocation(error)}"
        ) from error
    except (PathBuildingError, ValidationError) as error:
        raise SealingFailed(
            f"the certificate of the timestamp authority {authority} cannot be checked: "
            f"{_validation_problem(error)}"
        ) from error
    return paths


def _token_certificates(token: cms.ContentInfo) -> list[asn1_x509.Certificate]:
    return [
        choice.chosen
        for choice in token["content"]["certificates"] or ()
        if isinstance(choice.chosen, asn1_x509.Certificate)
    ]


def _chain_tops(certs: Sequence[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """Where each chain among ``certs`` ends: at a self-signed root, or, when the root is
    missing, at the highest certificate present. (asn1crypto's ``self_signed`` is the
    string ``'no'``, ``'maybe'`` or ``'yes'``.)"""
    subjects = {cert.subject.dump() for cert in certs}
    return [
        cert for cert in certs if cert.self_signed != "no" or cert.issuer.dump() not in subjects
    ]


def _unique(certs: Sequence[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    seen: dict[bytes, asn1_x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(cert.sha256, cert)
    return list(seen.values())


def _revocation(error: RevokedError) -> str:
    when = f"on {utc(error.revocation_dt)}" if error.revocation_dt else "earlier"
    reason = error.reason.human_friendly if error.reason is not None else None
    return f"{when} ({reason})" if reason else when


def _validation_problem(error: Exception) -> str:
    return str(getattr(error, "failure_msg", "") or error or type(error).__name__)


def _failure(error: BaseException, timestamper: TimeStamper | None) -> str:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    request_error = next((e for e in chain if isinstance(e, TimestampRequestError)), None)
    if timestamper is not None and request_error is not None:
        # What went wrong is at the end of the explicit causes (an HTTP status, a refused
        # connection); the implicit context can be an unrelated cache miss.
        cause: BaseException = request_error
        for _ in range(8):
            if cause.__cause__ is None:
                break
            cause = cause.__cause__
        detail = str(cause) or type(cause).__name__
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
        changes_permitted=bool(status.docmdp_ok) or status.modification_level is None,
    )


def _text(value: object) -> str | None:
    return str(value) if value is not None else None


_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")


def _revision_digests(pdf: bytes) -> tuple[str, ...]:
    return tuple(hashlib.sha256(pdf[: m.end()]).hexdigest() for m in _EOF.finditer(pdf))
