"""What a file is, told from its bytes; what a PDF holds."""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

from workflows.errors import InvalidInput, Phrase

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
TXT = "text/plain"

EXTENSIONS = {
    PDF: ".pdf",
    PNG: ".png",
    JPEG: ".jpg",
    DOCX: ".docx",
    XLSX: ".xlsx",
    ODT: ".odt",
    TXT: ".txt",
}
ACCEPTED = "PDF, PNG, JPEG, DOCX, XLSX, ODT or plain text"
KINDS = {
    PDF: "a PDF",
    PNG: "a PNG image",
    JPEG: "a JPEG image",
    DOCX: "a Word document (DOCX)",
    XLSX: "an Excel workbook (XLSX)",
    ODT: "an OpenDocument text (ODT)",
    TXT: "plain text",
}
"""Each accepted type as a person names it (in English; `kind_of` in the reader's words)."""
NAMED_AS = {**{ext: kind for kind, ext in EXTENSIONS.items()}, ".jpeg": JPEG}
"""The type a file name's extension promises."""
TEXT_SAMPLE = 1024 * 1024

# PDFium is not thread-safe: every use from worker threads goes through this lock.
PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    text: str
    active: tuple[str, ...] = ()
    """The active content found (`active_content`), as a person names it."""


def sniff(path: Path) -> str:
    """The media type of the file at ``path``, judged by its content alone."""
    with path.open("rb") as handle:
        head = handle.read(8)
        handle.seek(0)
        first_kb = handle.read(1024)
    if b"%PDF-" in first_kb:
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    if _looks_like_text(path):
        return TXT
    raise InvalidInput(
        f"this kind of file is not accepted; send {ACCEPTED}", says="refusal.file.kind"
    )


def check_name(filename: str, media_type: str) -> None:
    """Refuse a file whose name promises another type than its content has (a text file
    called ``.pdf``): stored, it would reach clients as something it is not."""
    extension = PurePath(filename).suffix.lower()
    promised = NAMED_AS.get(extension)
    if promised is not None and promised != media_type:
        raise InvalidInput(
            f"'{filename}' is named as {KINDS[promised]} but its content is "
            f"{KINDS[media_type]}: rename it or send the right file",
            says="refusal.file.misnamed",
            filename=filename,
            named=kind_of(promised),
            actual=kind_of(media_type),
        )


def kind_of(media_type: str) -> Phrase:
    """An accepted type as the reader's language names it ('a PNG image', 'obraz PNG')."""
    return Phrase(f"refusal.kind.{EXTENSIONS[media_type].lstrip('.')}")


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.read("mimetype").strip() == ODT.encode():
                return ODT
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    return DOCX
                if "xl/workbook.xml" in names:
                    return XLSX
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        raise InvalidInput(
            "the file looks like an office document but is damaged", says="refusal.file.office"
        ) from e
    raise InvalidInput(f"ZIP archives are not accepted; send {ACCEPTED}", says="refusal.file.zip")


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as handle:
        sample = handle.read(TEXT_SAMPLE)
        complete = not handle.read(1)
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        # A multi-byte character cut at the end of the sample is still text.
        if complete or e.start < len(sample) - 3:
            return False
        text = sample[: e.start].decode("utf-8")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls <= len(text) // 1000


def inspect_pdf(path: Path, *, max_text_chars: int) -> PdfFacts:
    """Open a PDF as a reader would; refuse one that is damaged, cut short, locked, or
    also a ZIP archive (a polyglot, which a reader would open as something else). What it
    holds that runs by itself is found and named, not refused: that is the caller's call."""
    if not _has_end_marker(path):
        raise InvalidInput(
            "the PDF is truncated: it has no end-of-file marker", says="refusal.pdf.truncated"
        )
    if zipfile.is_zipfile(path):
        raise InvalidInput(
            "the file is a PDF and a ZIP archive at once; send the PDF on its own",
            says="refusal.pdf.polyglot",
        )
    with PDFIUM_LOCK:
        facts = _read_pdf(path, max_text_chars=max_text_chars)
    return PdfFacts(facts.pages, facts.text, active=tuple(active_content(path)))


def _read_pdf(path: Path, *, max_text_chars: int) -> PdfFacts:
    import pypdfium2  # loads the PDF engine: only reading a PDF pays for it

    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as e:
        if "password" in str(e).lower():
            raise InvalidInput(
                "the PDF is password-protected; send it without a password",
                says="refusal.pdf.password",
            ) from e
        raise InvalidInput(
            "the PDF cannot be opened: it is damaged", says="refusal.pdf.damaged"
        ) from e
    try:
        pages = len(pdf)
        if pages == 0:
            raise InvalidInput("the PDF has no pages", says="refusal.pdf.no_pages")
        parts: list[str] = []
        total = 0
        for index in range(pages):
            if total >= max_text_chars:
                break
            try:
                page = pdf[index]
                textpage = page.get_textpage()
                chunk = textpage.get_text_range()
                textpage.close()
                page.close()
            except Exception as e:  # whatever a damaged page makes the reader raise
                raise InvalidInput(
                    f"the PDF cannot be read: page {index + 1} is damaged",
                    says="refusal.pdf.page",
                    page=index + 1,
                ) from e
            parts.append(chunk)
            total += len(chunk)
        text = "\n".join(parts).replace("\x00", "")
        return PdfFacts(pages=pages, text=text[:max_text_chars])
    finally:
        pdf.close()


def pdf_is_encrypted(path: Path) -> bool:
    """Whether a PDF carries encryption, even one that opens without a password (an
    owner password restricting changes): such a file cannot be signed incrementally."""
    import pypdfium2
    import pypdfium2.raw

    with PDFIUM_LOCK:
        try:
            pdf = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as e:
            raise InvalidInput(
                "the PDF cannot be opened: it is damaged", says="refusal.pdf.damaged"
            ) from e
        try:
            return bool(pypdfium2.raw.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1)
        finally:
            pdf.close()


def _has_end_marker(path: Path) -> bool:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 2048))
        return b"%%EOF" in handle.read()


RUNNING_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "a Launch action (it starts a program)",
    "/ImportData": "an ImportData action",
    "/RichMediaExecute": "a RichMedia action",
}
"""Actions that run code or programs, wherever they sit in the file."""
QUIET_ACTIONS = {"/GoTo"}
"""Actions a PDF may run by itself (on opening, on an event): moving to one of its pages."""
MAX_OBJECTS = 200_000


def active_content(path: Path) -> list[str]:
    """What in the PDF at ``path`` runs by itself or runs code: JavaScript, Launch and
    similar actions anywhere, any action but moving to a page when it is opened or on an
    event, XFA forms (which carry scripts). Names each kind once; empty for a plain PDF."""
    from pyhanko.pdf_utils.misc import PdfReadError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        with path.open("rb") as handle:
            reader = PdfFileReader(handle, strict=False)
            if reader.encrypted:
                # Only a file that opens without a password gets this far (an owner
                # password restricting changes): its objects open with the empty one.
                reader.decrypt(b"")
            return _walk(reader.trailer_view)
    except (PdfReadError, ValueError, KeyError, TypeError, RecursionError) as e:
        raise InvalidInput(
            "the PDF cannot be read: its structure is damaged; save it as PDF again and send that",
            says="refusal.pdf.structure",
        ) from e


def _walk(trailer: object) -> list[str]:
    from pyhanko.pdf_utils import generic

    found: dict[str, None] = {}
    seen: set[tuple[int, int]] = set()
    todo: list[object] = [trailer]
    while todo:
        item = todo.pop()
        if isinstance(item, generic.IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > MAX_OBJECTS:
                raise InvalidInput(
                    "the PDF holds too many objects to be checked", says="refusal.pdf.objects"
                )
            item = item.get_object()
        if isinstance(item, generic.ArrayObject):
            todo.extend(item)
        elif isinstance(item, generic.DictionaryObject):
            for name in _active_in(item):
                found.setdefault(name)
            todo.extend(item.values())
    return list(found)


def _active_in(entry: object) -> list[str]:
    """What one dictionary itself says runs: its own action, what it runs on opening or
    on events, an XFA form."""
    from pyhanko.pdf_utils import generic

    assert isinstance(entry, generic.DictionaryObject)
    names = []
    kind = entry.get("/S")
    if "/JS" in entry:
        names.append(RUNNING_ACTIONS["/JavaScript"])
    elif kind in RUNNING_ACTIONS:
        names.append(RUNNING_ACTIONS[str(kind)])
    opening = entry.get("/OpenAction")
    if opening is not None:
        opening = opening.get_object()
        if isinstance(opening, generic.DictionaryObject) and opening.get("/S") not in QUIET_ACTIONS:
            names.append(f"an action run on opening ({str(opening.get('/S', '?'))[1:]})")
    events = entry.get("/AA")
    if events is not None:
        events = events.get_object()
        if isinstance(events, generic.DictionaryObject):
            for action in events.values():
                action = action.get_object()
                kind = action.get("/S") if isinstance(action, generic.DictionaryObject) else None
                if kind not in QUIET_ACTIONS:
                    names.append(f"an action run on an event ({str(kind or '?')[1:]})")
    if "/XFA" in entry:
        names.append("an XFA form (it may run scripts)")
    return names
