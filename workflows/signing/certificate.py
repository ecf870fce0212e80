"""The completion certificate: pages appended to a sealed PDF that say who decided what,
when, from where and how they were identified, with the SHA-256 of every original
document and the head of the audit chain at completion.

The pages are written straight into pyHanko's incremental writer, so the original
document's bytes stay untouched as the PDF's first revision. Text is set in Courier, a
standard PDF font every reader has: nothing is embedded, and a fixed pitch makes line
wrapping exact.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from workflows.errors import InvalidInput

Role = Literal["signer", "approver"]

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0  # A4
MARGIN = 56.0
BODY_SIZE = 8.5
HEADING_SIZE = 12.0
TITLE_SIZE = 16.0
CHAR_WIDTH = 0.6  # Courier: every glyph is 600/1000 em wide
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


@dataclass
class _Line:
    text: str
    size: float = BODY_SIZE
    bold: bool = False
    indent: int = 0
    gap_before: float = 0.0


@dataclass
class _Layout:
    pages: list[list[tuple[_Line, float]]] = field(default_factory=list)
    substituted: bool = False


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
    writer: IncrementalPdfFileWriter, info: CertificateInfo, *, sealed_sha256: str, seal_name: str
) -> int:
    """Add the certificate pages at the end of ``writer``'s document; return how many."""
    layout = _paginate(_lines(info, sealed_sha256=sealed_sha256, seal_name=seal_name))
    fonts = generic.DictionaryObject(
        {
            pdf_name("/F1"): writer.add_object(_courier("Courier")),
            pdf_name("/F2"): writer.add_object(_courier("Courier-Bold")),
        }
    )
    resources = writer.add_object(generic.DictionaryObject({pdf_name("/Font"): fonts}))
    total = len(layout.pages)
    for number, placed in enumerate(layout.pages, start=1):
        footer = (
            _Line(f"Completion certificate of {info.request_ref} - page {number} of {total}"),
            MARGIN - 20,
        )
        stream = generic.StreamObject(stream_data=_content(placed + [footer]))
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
        writer.insert_page(page)
    return total


def _lines(info: CertificateInfo, *, sealed_sha256: str, seal_name: str) -> Iterator[_Line]:
    yield _Line("Completion certificate", size=TITLE_SIZE, bold=True)
    yield _Line(f"Request {info.request_ref}: {info.title}", gap_before=6)
    yield _Line(f"Organisation: {info.organisation}")
    yield _Line(f"Completed: {utc(info.completed_at)}")

    yield _Line(
        "Documents (SHA-256 of the original PDFs)", size=HEADING_SIZE, bold=True, gap_before=14
    )
    for number, document in enumerate(info.documents, start=1):
        this = "  <- this document" if document.sha256.lower() == sealed_sha256 else ""
        yield _Line(f"{number}. {document.title} ({document.filename}){this}", gap_before=4)
        yield _Line(f"SHA-256 {document.sha256.lower()}", indent=3)

    yield _Line("Decisions", size=HEADING_SIZE, bold=True, gap_before=14)
    for number, record in enumerate(info.parties, start=1):
        yield from _party(number, record)

    yield _Line("Audit trail", size=HEADING_SIZE, bold=True, gap_before=14)
    yield _Line(f"Chain head at completion: event #{info.audit_head.seq}")
    yield _Line(f"SHA-256 {info.audit_head.hash}", indent=3)

    yield _Line("How to check", size=HEADING_SIZE, bold=True, gap_before=14)
    yield _Line(
        f"Each decision above is sealed by its own PAdES signature of '{seal_name}', in the "
        "order shown; the first revision of this file is the original document, whose "
        "SHA-256 is listed above. Any change made after sealing breaks the signatures.",
        gap_before=2,
    )


def _party(number: int, record: PartyRecord) -> Iterator[_Line]:
    decision = record.decision
    yield _Line(
        f"{number}. {decision.name} - {decision.role} - {decision.verb} {utc(decision.decided_at)}",
        bold=True,
        gap_before=6,
    )
    if decision.on_behalf_of:
        yield _Line(f"On behalf of: {decision.on_behalf_of}", indent=3)
    yield _Line(f"Identified by: {decision.auth_level}", indent=3)
    yield _Line(f"IP address: {decision.ip or 'not recorded'}", indent=3)
    yield _Line(f"Browser: {decision.user_agent or 'not recorded'}", indent=3)
    drawn = "yes, shown on the last page" if decision.signature_png else "no"
    if decision.role == "signer":
        yield _Line(f"Drawn signature: {drawn}", indent=3)
    if record.events:
        yield _Line("Events:", indent=3)
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


def _paginate(lines: Iterator[_Line]) -> _Layout:
    layout = _Layout()
    page: list[tuple[_Line, float]] = []
    y = PAGE_HEIGHT - MARGIN
    for line in lines:
        text, changed = winansi(line.text)
        layout.substituted |= changed
        for piece in _wrap(text, line):
            step = piece.gap_before + piece.size * LEADING
            if page and y - step < MARGIN:
                layout.pages.append(page)
                page, y = [], PAGE_HEIGHT - MARGIN
                step = piece.size * LEADING
            y -= step
            page.append((piece, y))
    if layout.substituted:
        note = _Line(
            "Letters this page's font cannot show are simplified or printed as '?'; the "
            "signatures' reasons and the audit trail hold every name exactly."
        )
        for piece in _wrap(note.text, note):
            y -= piece.size * LEADING
            if y < MARGIN:
                layout.pages.append(page)
                page, y = [], PAGE_HEIGHT - MARGIN - piece.size * LEADING
            page.append((piece, y))
    layout.pages.append(page)
    return layout


def _wrap(text: str, line: _Line) -> Iterator[_Line]:
    """Split ``text`` into lines that fit the page, breaking at spaces where possible;
    continuation lines are indented two more characters."""
    usable = PAGE_WIDTH - 2 * MARGIN
    first = True
    while True:
        indent = line.indent + (0 if first else 2)
        width = int((usable - indent * line.size * CHAR_WIDTH) // (line.size * CHAR_WIDTH))
        if len(text) <= width:
            yield _Line(text, line.size, line.bold, indent, line.gap_before if first else 0)
            return
        cut = text.rfind(" ", 0, width + 1)
        if cut <= width // 3:
            cut = width
        yield _Line(
            text[:cut].rstrip(), line.size, line.bold, indent, line.gap_before if first else 0
        )
        text = text[cut:].lstrip()
        first = False


_UNDECOMPOSED = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i"}


def winansi(text: str) -> tuple[str, bool]:
    """``text`` in what Courier's WinAnsi encoding can show: accents dropped where
    that is all it takes, '?' for the rest, control characters as spaces."""
    out: list[str] = []
    changed = False
    for char in text:
        if unicodedata.category(char).startswith("C"):
            out.append(" ")
            continue
        try:
            char.encode("cp1252")
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = (
            unicodedata.normalize("NFKD", _UNDECOMPOSED.get(char, char))
            .encode("cp1252", "ignore")
            .decode("cp1252")
        )
        base = "".join(c for c in base if not unicodedata.combining(c))
        out.append(base or "?")
        changed = True
    return "".join(out), changed


def _content(placed: Sequence[tuple[_Line, float]]) -> bytes:
    ops = [b"BT"]
    for line, y in placed:
        font = b"/F2" if line.bold else b"/F1"
        x = MARGIN + line.indent * line.size * CHAR_WIDTH
        ops.append(b"%s %.2f Tf 1 0 0 1 %.2f %.2f Tm" % (font, line.size, x, y))
        ops.append(b"(" + _escape(line.text.encode("cp1252")) + b") Tj")
    ops.append(b"ET")
    return b"\n".join(ops)


def _escape(raw: bytes) -> bytes:
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _courier(name: str) -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/" + name),
            pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        }
    )
