"""PDF/A-2b for the PDFs Inkpost writes itself: the standalone completion certificate.

A document kept as evidence for years must still render the same when today's viewers
are gone. PDF/A asks for three things beyond what the certificate already has (every
font embedded, no encryption, no active content): a colour space pinned by an output
intent with its ICC profile, XMP metadata declaring the conformance, and both kept when
the file is changed later. pyHanko writes the XMP (in step with the info dictionary) on
every update, the seal signatures included, and keeps the fields it does not manage.
"""

from __future__ import annotations

from functools import cache

from PIL import ImageCms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.metadata.model import NS, ExpandedName, XmpStructure, XmpValue
from pyhanko.pdf_utils.writer import BasePdfFileWriter

PART = 2
CONFORMANCE = "B"
OUTPUT_CONDITION = "sRGB IEC61966-2.1"
PDFAID_PART = ExpandedName(ns=NS["pdfaid"], local_name="part")
PDFAID_CONFORMANCE = ExpandedName(ns=NS["pdfaid"], local_name="conformance")


@cache
def srgb_profile() -> bytes:
    """The sRGB ICC profile (littlecms's, as Pillow builds it), about 600 bytes."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def declare_pdfa(writer: BasePdfFileWriter, *, title: str, creator: str) -> None:
    """Make ``writer``'s document PDF/A-2b as far as the catalogue goes: an sRGB output
    intent and XMP metadata naming the conformance, the title and the creator. The pages
    must already keep PDF/A's rules (embedded fonts, device colours only under the
    intent)."""
    profile = generic.StreamObject(
        {pdf_name("/N"): generic.NumberObject(3)}, stream_data=srgb_profile()
    )
    profile.compress()
    intent = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/OutputIntent"),
            pdf_name("/S"): pdf_name("/GTS_PDFA1"),
            pdf_name("/OutputConditionIdentifier"): generic.pdf_string(OUTPUT_CONDITION),
            pdf_name("/Info"): generic.pdf_string(OUTPUT_CONDITION),
            pdf_name("/DestOutputProfile"): writer.add_object(profile),
        }
    )
    writer.root[pdf_name("/OutputIntents")] = generic.ArrayObject([writer.add_object(intent)])
    writer.update_root()
    meta = writer.document_meta
    meta.title = title
    meta.creator = creator
    meta.created = "now"
    meta.xmp_extra = [
        XmpStructure.of(
            (PDFAID_PART, XmpValue(str(PART))),
            (PDFAID_CONFORMANCE, XmpValue(CONFORMANCE)),
        )
    ]
