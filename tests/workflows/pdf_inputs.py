"""PDFs as organisations receive them: declared PDF/A (every font embedded, an output
intent, XMP metadata), and signed or certified by someone else before Inkpost seals them.
Built with pyHanko and Noto Sans, so nothing is needed beyond what Inkpost itself uses."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

from PIL import ImageCms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import fields, signers

from inkpost.sample_pdf import make_pdf
from workflows.signing import typeface
from workflows.signing.seal_keys import SealKey

XMP = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"
    xmlns:dc="http://purl.org/dc/elements/1.1/">
   <pdfaid:part>{part}</pdfaid:part>
   <pdfaid:conformance>B</pdfaid:conformance>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def pdfa_pdf(title: str, *, part: int = 2, pages: int = 2) -> bytes:
    """A PDF declaring PDF/A-``part``b: text in embedded Noto Sans, an sRGB output intent,
    XMP metadata, a classic cross-reference table (no object streams)."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = typeface.font_engine(writer, "regular")
    resources = writer.add_object(
        generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font.as_resource()})}
        )
    )
    for number in range(1, pages + 1):
        text = font.shape(f"{title} — page {number} of {pages}").graphics_ops
        content = generic.StreamObject(stream_data=b"BT /F1 14 Tf 1 0 0 1 72 760 Tm %s ET" % text)
        page = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    generic.NumberObject(v) for v in (0, 0, 595, 842)
                ),
                pdf_name("/Resources"): resources,
                pdf_name("/Contents"): writer.add_object(content),
            }
        )
        writer.insert_page(page)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    intent = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/OutputIntent"),
            pdf_name("/S"): pdf_name("/GTS_PDFA1"),
            pdf_name("/OutputConditionIdentifier"): generic.pdf_string("sRGB"),
            pdf_name("/DestOutputProfile"): writer.add_object(
                generic.StreamObject({pdf_name("/N"): generic.NumberObject(3)}, stream_data=profile)
            ),
        }
    )
    writer.root[pdf_name("/OutputIntents")] = generic.ArrayObject([writer.add_object(intent)])
    metadata = MetadataStream(stream_data=XMP.format(part=part, title=title).encode())
    writer.root[pdf_name("/Metadata")] = writer.add_object(metadata)
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def signed_pdf(
    key: SealKey,
    *,
    title: str = "Lease agreement",
    certify: fields.MDPPerm | None = None,
    pdf: bytes | None = None,
) -> bytes:
    """``pdf`` (or a new three-page one) signed by ``key`` as another signer would, with a
    certification signature when ``certify`` names its permissions."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf or make_pdf(title, pages=3)))
    meta = signers.PdfSignatureMetadata(
        field_name="Notary",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="Certified copy",
        certify=certify is not None,
        docmdp_permissions=certify or fields.MDPPerm.FILL_FORMS,
    )
    return bytes(signers.PdfSigner(meta, signer=key.signer).sign_pdf(writer).getvalue())


def with_a_page_added(pdf: bytes) -> bytes:
    """``pdf`` with an empty page added in an update of its own: what no signature made
    before permits."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.insert_page(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Page"),
                pdf_name("/MediaBox"): generic.ArrayObject(
                    generic.NumberObject(v) for v in (0, 0, 595, 842)
                ),
            }
        )
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdftotext(pdf: bytes, tmp_path: Path, *, page: int | None = None) -> str:
    """poppler's text of ``pdf`` (or of one page of it, from 1)."""
    path = tmp_path / "text-input.pdf"
    path.write_bytes(pdf)
    pages = ["-f", str(page), "-l", str(page)] if page is not None else []
    result = subprocess.run(
        ["pdftotext", "-layout", *pages, str(path), "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def pdffonts(pdf: bytes, tmp_path: Path) -> list[dict[str, str]]:
    """poppler's list of the fonts ``pdf`` uses: name, type and whether it is embedded."""
    path = tmp_path / "fonts-input.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    rows = []
    for line in result.stdout.splitlines()[2:]:
        found = re.match(r"(\S+)\s+(.+?)\s{2,}(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)", line)
        assert found, line
        rows.append({"name": found[1], "type": found[2], "emb": found[4], "uni": found[6]})
    return rows


def qpdf_check(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "check-input.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
