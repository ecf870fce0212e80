"""A corpus of damaged, hostile and polyglot PDFs, built from a sound one in code.

Each is what a careless or malicious sender might upload: cut short, with a broken cross-
reference table, a stream that does not decode, a page tree that loops, pages that cannot
be loaded, JavaScript or a Launch action run on opening, or a PDF that is a ZIP archive
too. Every upload path must refuse each with a clear reason, store nothing and not hang.
"""

from __future__ import annotations

import io
import re
import zipfile

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from inkpost.sample_pdf import make_pdf


def sound() -> bytes:
    return make_pdf("Fee table 2027", pages=2)


def _with_root_entries(make: dict[str, generic.PdfObject]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(sound()))
    for key, value in make.items():
        writer.root[generic.NameObject(key)] = value
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _action(kind: str, **fields: generic.PdfObject) -> generic.DictionaryObject:
    entries = {generic.NameObject("/S"): generic.NameObject(kind)}
    entries.update({generic.NameObject(f"/{k}"): v for k, v in fields.items()})
    return generic.DictionaryObject(entries)


def javascript_on_opening() -> bytes:
    return _with_root_entries(
        {"/OpenAction": _action("/JavaScript", JS=generic.TextStringObject("app.alert(1)"))}
    )


def launch_on_opening() -> bytes:
    return _with_root_entries(
        {"/OpenAction": _action("/Launch", F=generic.TextStringObject("calc.exe"))}
    )


def zip_polyglot() -> bytes:
    """A sound PDF with a ZIP archive appended: a PDF reader and an unzip tool each open
    it, as different things."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("readme.html", "<script>alert(1)</script>")
    return sound() + archive.getvalue()


def damaged() -> dict[str, bytes]:
    """Name → bytes of every damaged file of the corpus."""
    pdf = sound()
    xref = pdf.rindex(b"\nxref") + 1
    return {
        "cut in half": pdf[: len(pdf) // 2],
        "cut, end marker kept": pdf[: len(pdf) // 2] + b"\n%%EOF\n",
        "no cross-reference table": pdf[:xref] + b"%%EOF\n",
        "cross-reference table of garbage": pdf[:xref]
        + b"xref\n0 12\n"
        + b"9999999999 00000 n\r\n" * 12
        + pdf[pdf.index(b"trailer", xref) :],
        "startxref pointing nowhere": re.sub(rb"startxref\r\n\d+", b"startxref\r\n99999999", pdf),
        "page tree that loops": pdf.replace(b"/Kids[ 4 0 R  8 0 R ]", b"/Kids[ 2 0 R  2 0 R ]"),
        "page count that lies": pdf.replace(b"/Count 2", b"/Count 999999999"),
        "header only": b"%PDF-1.7\n%%EOF\n",
        "empty object soup": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<</Root 1 0 R>>\n%%EOF\n",
    }


def readable_though_damaged() -> dict[str, bytes]:
    """Name → bytes of damaged files a reader still opens: a page whose drawing does not
    decode shows blank, a page entry that is no page is taken as an empty one."""
    pdf = sound()
    first_stream = pdf.index(b"stream\r\n") + len(b"stream\r\n")
    return {
        "stream that does not decode": pdf[:first_stream]
        + b"\x00\xff" * 20
        + pdf[first_stream + 40 :],
        "page that is not a page": pdf.replace(b"/Kids[ 4 0 R  8 0 R ]", b"/Kids[ 3 0 R  3 0 R ]"),
    }


def hostile() -> dict[str, bytes]:
    """Name → bytes of the sound-but-hostile files: they open, and must not reach clients."""
    return {
        "JavaScript on opening": javascript_on_opening(),
        "Launch action on opening": launch_on_opening(),
        "PDF and ZIP at once": zip_polyglot(),
    }
