"""What a file is, told from its bytes; what a PDF holds."""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePath

import pypdfium2
import pypdfium2.raw

from workflows.errors import InvalidInput

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
"""Each accepted type as a person names it."""
NAMED_AS = {**{ext: kind for kind, ext in EXTENSIONS.items()}, ".jpeg": JPEG}
"""The type a file name's extension promises."""
TEXT_SAMPLE = 1024 * 1024

# PDFium is not thread-safe: every use from worker threads goes through this lock.
PDFIUM_LOCK = threading.Lock()


@dataclass(frozen=True)
class PdfFacts:
    pages: int
    text: str


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
    raise InvalidInput(f"this kind of file is not accepted; send {ACCEPTED}")


def check_name(filename: str, media_type: str) -> None:
    """Refuse a file whose name promises another type than its content has (a text file
    called ``.pdf``): stored, it would reach clients as something it is not."""
    extension = PurePath(filename).suffix.lower()
    promised = NAMED_AS.get(extension)
    if promised is not None and promised != media_type:
        raise InvalidInput(
            f"'{filename}' is named as {KINDS[promised]} but its content is "
            f"{KINDS[media_type]}: rename it or send the right file"
        )


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
        raise InvalidInput("the file looks like an office document but is damaged") from e
    raise InvalidInput(f"ZIP archives are not accepted; send {ACCEPTED}")


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
    """Open a PDF as a reader would; refuse one that is damaged, cut short or locked."""
    if not _has_end_marker(path):
        raise InvalidInput("the PDF is truncated: it has no end-of-file marker")
    with PDFIUM_LOCK:
        return _read_pdf(path, max_text_chars=max_text_chars)


def _read_pdf(path: Path, *, max_text_chars: int) -> PdfFacts:
    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as e:
        if "password" in str(e).lower():
            raise InvalidInput("the PDF is password-protected; send it without a password") from e
        raise InvalidInput("the PDF cannot be opened: it is damaged") from e
    try:
        pages = len(pdf)
        if pages == 0:
            raise InvalidInput("the PDF has no pages")
        parts: list[str] = []
        total = 0
        for index in range(pages):
            if total >= max_text_chars:
                break
            page = pdf[index]
            textpage = page.get_textpage()
            chunk = textpage.get_text_range()
            textpage.close()
            page.close()
            parts.append(chunk)
            total += len(chunk)
        text = "\n".join(parts).replace("\x00", "")
        return PdfFacts(pages=pages, text=text[:max_text_chars])
    finally:
        pdf.close()


def pdf_is_encrypted(path: Path) -> bool:
    """Whether a PDF carries encryption, even one that opens without a password (an
    owner password restricting changes): such a file cannot be signed incrementally."""
    with PDFIUM_LOCK:
        pdf = pypdfium2.PdfDocument(path)
        try:
            return bool(pypdfium2.raw.FPDF_GetSecurityHandlerRevision(pdf.raw) != -1)
        finally:
            pdf.close()


def _has_end_marker(path: Path) -> bool:
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 2048))
        return b"%%EOF" in handle.read()
