"""Multi-page PDFs with real text, made with PDFium: for the demo, tests and benchmarks."""

from __future__ import annotations

import ctypes
import io
from collections.abc import Sequence

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_raw

A4 = (595.0, 842.0)


def make_pdf(title: str, *, pages: int = 3, lines: Sequence[str] = ()) -> bytes:
    """A PDF of ``pages`` A4 pages, each headed by ``title`` and followed by ``lines``."""
    pdf = pdfium.PdfDocument.new()
    try:
        for number in range(1, pages + 1):
            page = pdf.new_page(*A4)
            body = [title, f"Page {number} of {pages}", "", *lines]
            for row, text in enumerate(body):
                if text:
                    _put_text(pdf, page, text, size=18.0 if row == 0 else 11.0, y=770 - row * 22)
            pdfium_raw.FPDFPage_GenerateContent(page.raw)
            page.close()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


def _put_text(
    pdf: pdfium.PdfDocument, page: pdfium.PdfPage, text: str, *, size: float, y: float
) -> None:
    obj = pdfium_raw.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", size)
    encoded = ctypes.create_string_buffer((text + "\x00").encode("utf-16-le"))
    pdfium_raw.FPDFText_SetText(obj, ctypes.cast(encoded, ctypes.POINTER(pdfium_raw.FPDF_WCHAR)))
    pdfium_raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, y)
    pdfium_raw.FPDFPage_InsertObject(page.raw, obj)
