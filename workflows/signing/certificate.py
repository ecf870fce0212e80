"""The completion certificate: pages that say who decided what, when, from where and how
they were identified, with the SHA-256 of every original document and the head of the
audit chain at completion.

Usually the pages are appended to each sealed PDF, written straight into pyHanko's
incremental writer, so the original document's bytes stay untouched as the PDF's first
revision. A document that already carries signatures gets no pages (pages added after a
signature would break it); the certificate is then a PDF of its own, sealed beside it
(`standalone_certificate`). Text is set in Noto Sans (`typeface`), embedded and subset,
so every name prints exactly as it was typed, in Latin, Greek or Cyrillic letters.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter, PdfFileWriter

from workflows.errors import InvalidInput
from workflows.signing import archival, typeface

Role = Literal["signer", "approver"]
PriorSignatures = Literal["none", "signed", "unchangeable"]
"""What a document carried before it was sealed: no signature; signatures, which the
seal keeps valid by adding no pages; or a certification that forbids any change, so that
the document is kept exactly as it was."""

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0  # A4
MARGIN = 56.0
BODY_SIZE = 8.5
HEADING_SIZE = 12.0
TITLE_SIZE = 16.0
INDENT = 0.6  # an indent step, in em
LEADING = 1.35


@dataclass(frozen=True)
class PartyDecision:
    """One party's favourable decision: the facts a signature's reason and the
    certificate record. ``auth_level`` says how the party was identified (for example
    "one-time code via Telegram" or "link possession"); ``on_behalf_of`` names the
    addressee when a colleague decided for them."""

    name: str
    role: Role
    decided_at: dt.datetime
    auth_level: str
    ip: str | None = None
    user_agent: str | None = None
    on_behalf_of: str | None = None
    signature_png: bytes | None = None

    @property
    def verb(self) -> str:
        return "signed" if self.role == "signer" else "approved"


@dataclass(frozen=True)
class PartyEvent:
    """Something a party did before deciding (opened the link, confirmed a code...)."""

    at: dt.datetime
    what: str
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class PartyRecord:
    decision: PartyDecision
    events: tuple[PartyEvent, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    title: str
    filename: str
    sha256: str
    """Hex SHA-256 of the original PDF, as stored before sealing."""
    prior: PriorSignatures = "none"


@dataclass(frozen=True)
class AuditHead:
    """The organisation's audit chain at completion: the last event's number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class CertificateInfo:
    """Everything the completion certificate shows. ``parties`` are in decision order;
    each of them gets one signature when the PDF is sealed."""

    request_ref: str
    title: str
    organisation: str
    documents: tuple[DocumentEntry, ...]
    parties: tuple[PartyRecord, ...]
    audit_head: AuditHead
    completed_at: dt.datetime
    checkpoint: AuditHead | None = None
    """The checkpoint on the durable medium that covers the request's events."""

    @property
    def standalone(self) -> bool:
        """Whether the certificate is also a PDF of its own, beside the documents that
        carried signatures before sealing."""
        return any(document.prior != "none" for document in self.documents)


@dataclass(frozen=True)
class StandaloneCertificate:
    """The certificate as a PDF of its own, not yet sealed."""

    pdf: bytes
    pages: int
    stamp_top: float
    """How high on the last page the drawn signatures may reach (they go below)."""


@dataclass(frozen=True)
class _Line:
    text: str
    size: float = BODY_SIZE
    bold: bool = False
    indent: int = 0
    gap_before: float = 0.0
    keep_with_next: bool = False
    """Never the last line of a page (a heading)."""


@dataclass
class _Layout:
    pages: list[list[tuple[_Line, float]]] = field(default_factory=list)
    reserved_top: float = 0.0
    """Where the room kept free at the foot of the last page begins."""


def utc(moment: dt.datetime) -> str:
    """A time as the certificate and the signatures print it: UTC, to the second."""
    if moment.tzinfo is None:
        raise InvalidInput("times on a completion certificate must carry a time zone")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check(info: CertificateInfo) -> None:
    """Refuse a certificate that would misstate the request."""
    if not info.documents:
        raise InvalidInput("a completion certificate lists at least one document")
    if not info.parties:
        raise InvalidInput("a completion certificate lists at least one deciding party")
    for document in info.documents:
        digest = document.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidInput(f"the SHA-256 of {document.filename} is not 64 hex digits")
    for record in info.parties:
        if not record.decision.name.strip():
            raise InvalidInput("every deciding party needs a name")
        if record.decision.role not in ("signer", "approver"):
            raise InvalidInput(f"{record.decision.name}: a seal records signers and approvers")
        utc(record.decision.decided_at)
        for event in record.events:
            utc(event.at)
    utc(info.completed_at)


def append_certificate(
    writer: BasePdfFileWriter,
    info: CertificateInfo,
    *,
    sealed_sha256: str,
    seal_name: str,
    drawings_on_page: int,
) -> int:
    """Add the certificate pages at the end of ``writer``'s document; return how many.
    ``drawings_on_page`` is the page (from 1) of the file that shows the drawn
    signatures."""
    lines = _lines(
        info,
        sealed_sha256=sealed_sha256,
        seal_name=seal_name,
        drawings=f"page {drawings_on_page} of this file",
    )
    return len(_write(writer, info, _paginate(lines)).pages)


def standalone_certificate(
    info: CertificateInfo, *, seal_name: str, drawings_height: float
) -> StandaloneCertificate:
    """The certificate as a PDF of its own, for the documents that carried signatures
    before sealing; ``drawings_height`` points are kept free at the foot of its last
    page for the drawn signatures."""
    lines = _lines(
        info,
        sealed_sha256=None,
        seal_name=seal_name,
        drawings="the last page of this file",
    )
    if drawings_height > 0:
        lines = _with_drawings(lines)
    writer = PdfFileWriter(stream_xrefs=False)
    layout = _write(writer, info, _paginate(lines, reserve=drawings_height))
    archival.declare_pdfa(
        writer, title=f"Completion certificate of {info.request_ref}", creator="Inkpost"
    )
    out = io.BytesIO()
    writer.write(out)
    return StandaloneCertificate(
        pdf=out.getvalue(), pages=len(layout.pages), stamp_top=layout.reserved_top
    )


def _with_drawings(lines: Iterator[_Line]) -> Iterator[_Line]:
    yield from lines
    yield _Line(
        "Drawn signatures", size=HEADING_SIZE, bold=True, gap_before=14, keep_with_next=True
    )
    yield _Line("As the signers drew them, in the order of the decisions above.", gap_before=2)


def _write(writer: BasePdfFileWriter, info: CertificateInfo, layout: _Layout) -> _Layout:
    regular = typeface.font_engine(writer, "regular")
    bold = typeface.font_engine(writer, "bold")
    fonts = generic.DictionaryObject(
        {pdf_name("/F1"): regular.as_resource(), pdf_name("/F2"): bold.as_resource()}
    )
    resources = writer.add_object(generic.DictionaryObject({pdf_name("/Font"): fonts}))
    total = len(layout.pages)
    for number, placed in enumerate(layout.pages, start=1):
        footer = (
            _Line(f"Completion certificate of {info.request_ref} - page {number} of {total}"),
            MARGIN - 20,
        )
        content = _content([*placed, footer], regular=regular, bold=bold)
        stream = generic.StreamObject(stream_data=content)
        stream.compress()
        page = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    generic.FloatObject(v) for v in (0, 0, PAGE_WIDTH, PAGE_HEIGHT)
                ),
                pdf_name("/Resources"): resources,
                pdf_name("/Contents"): writer.add_object(stream),
            }
        )
        _append_page(writer, page)
    return layout


def _append_page(writer: BasePdfFileWriter, page: generic.DictionaryObject) -> None:
    """``writer.insert_page(page)``, at the end: the node of the page tree that gets it is
    found from the end, one node read per level, where ``insert_page`` finds it by page
    number and so reads every page before it (a third of the certificate's cost on a
    document of twenty pages)."""
    node_ref = writer.root.raw_get("/Pages")
    seen: set[int] = set()
    while True:
        if not isinstance(node_ref, generic.IndirectObject) or node_ref.idnum in seen:
            raise PdfError("the page tree is not a tree")
        seen.add(node_ref.idnum)
        kids = node_ref.get_object().get("/Kids")
        if not isinstance(kids, generic.ArrayObject):
            raise PdfError("a node of the page tree has no list of pages")
        last = kids.raw_get(len(kids) - 1) if len(kids) else None
        below = last.get_object() if isinstance(last, generic.IndirectObject) else None
        if not isinstance(below, generic.DictionaryObject) or "/Kids" not in below:
            break  # the last kid is a page (or there is none): the page goes beside it
        node_ref = last
    parent: generic.PdfObject | None = node_ref
    climbed: set[int] = set()
    while parent is not None:
        if not isinstance(parent, generic.IndirectObject) or parent.idnum in climbed:
            raise PdfError("the page tree is not a tree")
        climbed.add(parent.idnum)
        node = parent.get_object()
        writer.update_container(node)
        node[pdf_name("/Count")] = generic.NumberObject(int(node["/Count"]) + 1)
        parent = node.get("/Parent")
    kids.append(writer.add_object(page))
    page[pdf_name("/Parent")] = node_ref
    writer.update_container(kids)


def _lines(
    info: CertificateInfo, *, sealed_sha256: str | None, seal_name: str, drawings: str
) -> Iterator[_Line]:
    yield _Line("Completion certificate", size=TITLE_SIZE, bold=True)
    yield _Line(f"Request {info.request_ref}: {info.title}", gap_before=6)
    yield _Line(f"Organisation: {info.organisation}")
    yield _Line(f"Completed: {utc(info.completed_at)}")

    yield _heading("Documents (SHA-256 of the original PDFs)")
    for number, document in enumerate(info.documents, start=1):
        this = "  <- this document" if document.sha256.lower() == sealed_sha256 else ""
        yield _Line(f"{number}. {document.title} ({document.filename}){this}", gap_before=4)
        yield _Line(f"SHA-256 {document.sha256.lower()}", indent=3)
        if document.prior == "signed":
            yield _Line(
                "Carried signatures before sealing: sealed without added pages, so that they "
                "stay valid; this certificate is also a sealed PDF of its own beside it.",
                indent=3,
            )
        elif document.prior == "unchangeable":
            yield _Line(
                "Certified by its author against any change: kept exactly as it was; this "
                "certificate, a sealed PDF of its own beside it, records the decisions.",
                indent=3,
            )

    yield _heading("Decisions")
    for number, record in enumerate(info.parties, start=1):
        yield from _party(number, record, drawings=drawings)

    yield _heading("Audit trail")
    yield _Line(f"Chain head at completion: event #{info.audit_head.seq}")
    yield _Line(f"SHA-256 {info.audit_head.hash}", indent=3)
    if info.checkpoint is not None:
        yield _Line(f"Sealed checkpoint on the durable medium: event #{info.checkpoint.seq}")
        yield _Line(f"SHA-256 {info.checkpoint.hash}", indent=3)

    yield _heading("How to check")
    if sealed_sha256 is None:
        how = (
            f"Each decision above is sealed by its own PAdES signature of '{seal_name}' on "
            "this certificate, in the order shown, and on each document listed above that "
            "was not certified against any change. The first revision of each sealed "
            "document is the original, whose SHA-256 is listed above. Any change made "
            "after sealing breaks the signatures."
        )
    else:
        how = (
            f"Each decision above is sealed by its own PAdES signature of '{seal_name}', in "
            "the order shown; the first revision of this file is the original document, "
            "whose SHA-256 is listed above. Any change made after sealing breaks the "
            "signatures."
        )
    yield _Line(how, gap_before=2)


def _heading(text: str) -> _Line:
    return _Line(text, size=HEADING_SIZE, bold=True, gap_before=14, keep_with_next=True)


def _party(number: int, record: PartyRecord, *, drawings: str) -> Iterator[_Line]:
    decision = record.decision
    yield _Line(
        f"{number}. {decision.name} - {decision.role} - {decision.verb} {utc(decision.decided_at)}",
        bold=True,
        gap_before=6,
        keep_with_next=True,
    )
    if decision.on_behalf_of:
        yield _Line(f"On behalf of: {decision.on_behalf_of}", indent=3)
    yield _Line(f"Identified by: {decision.auth_level}", indent=3)
    yield _Line(f"IP address: {decision.ip or 'not recorded'}", indent=3)
    yield _Line(f"Browser: {decision.user_agent or 'not recorded'}", indent=3)
    if decision.role == "signer":
        drawn = f"yes, shown on {drawings}" if decision.signature_png else "no"
        yield _Line(f"Drawn signature: {drawn}", indent=3)
    if record.events:
        yield _Line("Events:", indent=3, keep_with_next=True)
    for event in sorted(record.events, key=lambda e: e.at):
        where = ", ".join(
            part
            for part in (
                f"IP {event.ip}" if event.ip else "",
                event.user_agent or "",
            )
            if part
        )
        suffix = f" ({where})" if where else ""
        yield _Line(f"{utc(event.at)}  {event.what}{suffix}", indent=5)


def _paginate(lines: Iterator[_Line], *, reserve: float = 0.0) -> _Layout:
    """Lines placed on pages: wrapped to the page's width, a heading never the last line
    of a page, and ``reserve`` points free at the foot of the last one."""
    pieces: list[_Line] = []
    substituted = False
    for line in lines:
        text, changed = typeface.printable(line.text, _face(line))
        substituted |= changed
        pieces.extend(_wrap(replace(line, text=text)))
    if substituted:
        note = _Line(
            "Characters this page's font cannot show are printed as '?'; the signatures' "
            "reasons and the audit trail hold every name exactly.",
            gap_before=6,
        )
        pieces.extend(_wrap(note))
    last = len(pieces) - 1

    def room(index: int) -> float:
        """What a piece needs below the previous line: itself, the room kept free after
        the last piece, and the piece a heading keeps with it."""
        piece = pieces[index]
        needed = piece.gap_before + piece.size * LEADING + (reserve if index == last else 0)
        if piece.keep_with_next and index < last:
            following = pieces[index + 1]
            needed += following.gap_before + following.size * LEADING
            needed += reserve if index + 1 == last else 0
        return needed

    layout = _Layout()
    page: list[tuple[_Line, float]] = []
    y = PAGE_HEIGHT - MARGIN
    for index, piece in enumerate(pieces):
        step = piece.gap_before + piece.size * LEADING
        if page and y - room(index) < MARGIN:
            layout.pages.append(page)
            page, y = [], PAGE_HEIGHT - MARGIN
            step = piece.size * LEADING
        y -= step
        page.append((piece, y))
    layout.reserved_top = y - BODY_SIZE
    if reserve > 0 and layout.reserved_top - reserve < MARGIN:
        layout.pages.append(page)
        page, layout.reserved_top = [], PAGE_HEIGHT - MARGIN
    layout.pages.append(page)
    return layout


def _face(line: _Line) -> typeface.Face:
    return "bold" if line.bold else "regular"


def _wrap(line: _Line) -> Iterator[_Line]:
    """``line`` split into lines that fit the page, breaking at spaces where possible;
    continuation lines are indented two steps more."""
    text, first = line.text, True
    while True:
        indent = line.indent + (0 if first else 2)
        usable = PAGE_WIDTH - 2 * MARGIN - _indent(indent, line.size)
        piece = replace(line, indent=indent, gap_before=line.gap_before if first else 0)
        if typeface.width(text, line.size, _face(line)) <= usable:
            yield replace(piece, text=text)
            return
        fits = _fitting(text, usable, line)
        cut = text.rfind(" ", 0, fits + 1)
        if cut <= fits // 3:
            cut = fits
        yield replace(piece, text=text[:cut].rstrip(), keep_with_next=False)
        text = text[cut:].lstrip()
        first = False


def _fitting(text: str, usable: float, line: _Line) -> int:
    """How many characters of ``text`` (at least one) fit in ``usable`` points."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if typeface.width(text[:middle], line.size, _face(line)) <= usable:
            low = middle
        else:
            high = middle - 1
    return low


def _indent(steps: int, size: float) -> float:
    return steps * size * INDENT


def _content(
    placed: Sequence[tuple[_Line, float]],
    *,
    regular: GlyphAccumulator,
    bold: GlyphAccumulator,
) -> bytes:
    """The lines' text operators; each line is placed by its own text matrix, so where a
    shaped line leaves the cursor does not matter."""
    ops = [b"BT"]
    for line, y in placed:
        engine, font = (bold, b"/F2") if line.bold else (regular, b"/F1")
        x = MARGIN + _indent(line.indent, line.size)
        ops.append(b"%s %.2f Tf 1 0 0 1 %.2f %.2f Tm" % (font, line.size, x, y))
        ops.append(engine.shape(line.text).graphics_ops)
    ops.append(b"ET")
    return b"\n".join(ops)
