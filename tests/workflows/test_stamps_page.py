"""Where the drawn signatures go in a PDF whose page tree is nested: on its last page, found
from the end of the tree (past an empty branch), at the width that page inherits."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter

from tests.workflows.pdf_inputs import pdftotext
from tests.workflows.test_sealing import assert_sealed, party, seal_of
from workflows.signing.certificate import _append_page
from workflows.signing.seal import SealKey, create_self_signed_seal, load_seal_key


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    folder = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(folder, common_name="Acme Law seal"))


def nested_pdf(widths: tuple[float, ...] = (595, 595, 842)) -> bytes:
    """Pages in two branches of the page tree (one page per width), the last branch
    giving its pages their size, and a third, empty branch after them."""
    writer = PdfFileWriter(stream_xrefs=False)
    root_ref = writer.root.raw_get("/Pages")
    root = root_ref.get_object()
    branches = [(widths[:-1], False), (widths[-1:], True), ((), False)]
    kids, number = [], 0
    for sizes, inherited in branches:
        node = generic.DictionaryObject(
            {pdf_name("/Type"): pdf_name("/Pages"), pdf_name("/Parent"): root_ref}
        )
        node_ref = writer.add_object(node)
        pages = []
        for width in sizes:
            number += 1
            text = b"BT /F1 12 Tf 72 700 Td (Clause page %d) Tj ET" % number
            page = generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Page"),
                    pdf_name("/Parent"): node_ref,
                    pdf_name("/Contents"): writer.add_object(
                        generic.StreamObject(stream_data=text)
                    ),
                    pdf_name("/Resources"): generic.DictionaryObject(
                        {pdf_name("/Font"): _helvetica()}
                    ),
                }
            )
            box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, int(width), 842))
            (node if inherited else page)[pdf_name("/MediaBox")] = box
            pages.append(writer.add_object(page))
        node[pdf_name("/Kids")] = generic.ArrayObject(pages)
        node[pdf_name("/Count")] = generic.NumberObject(len(pages))
        kids.append(node_ref)
    root[pdf_name("/Kids")] = generic.ArrayObject(kids)
    root[pdf_name("/Count")] = generic.NumberObject(number)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _helvetica() -> generic.DictionaryObject:
    return generic.DictionaryObject(
        {
            pdf_name("/F1"): generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Font"),
                    pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                }
            )
        }
    )


def stamp_rects(pdf: bytes) -> dict[int, list[tuple[float, ...]]]:
    """The signature widgets' rectangles, by the number (from 1) of the page they are on."""
    reader = PdfFileReader(io.BytesIO(pdf))
    found: dict[int, list[tuple[float, ...]]] = {}
    for number in range(1, int(reader.root["/Pages"]["/Count"]) + 1):
        page_ref, _ = reader.find_page_for_modification(number - 1)
        for annot in page_ref.get_object().get("/Annots", ()):
            annot = annot.get_object()
            rect = tuple(float(v) for v in annot["/Rect"])
            if annot.get("/FT") == "/Sig" and rect[2] > rect[0]:  # a visible signature
                found.setdefault(number, []).append(rect)
    return found


def test_drawn_signatures_go_on_the_last_page_of_a_nested_page_tree(
    seal: SealKey, tmp_path: Path
) -> None:
    original = nested_pdf()
    parties = [
        party("Alice Anders", "signer", drawn=True),
        party("Bob Berg", "approver", minutes=1),
        party("Chloé Carré", "signer", drawn=True, minutes=2),
    ]

    sealed = seal_of(original, seal, parties)

    assert_sealed(sealed, seal, tmp_path, signatures=3)
    assert list(stamp_rects(sealed)) == [3]  # the document's last page, before the certificate
    [first, second] = sorted(stamp_rects(sealed)[3])
    assert second[2] == 842 - 36  # right-aligned on the width the page inherits
    assert first[2] < second[0]
    page_text = pdftotext(sealed, tmp_path, page=3)
    assert "Clause page 3" in page_text
    assert "Alice Anders" in page_text and "Chloé Carré" in page_text
    assert "Clause page" not in pdftotext(sealed, tmp_path, page=4)  # the certificate


def _leaves(node_ref: generic.IndirectObject) -> int:
    """The pages under a node of the page tree, checking each node's count and each kid's
    parent on the way down."""
    node = node_ref.get_object()
    if node["/Type"] == "/Page":
        return 1
    total = 0
    for kid in node["/Kids"]:
        assert kid.get_object().raw_get("/Parent").idnum == node_ref.idnum
        total += _leaves(kid)
    assert node["/Count"] == total
    return total


def test_the_certificate_pages_are_appended_to_the_end_of_a_nested_page_tree(
    seal: SealKey, tmp_path: Path
) -> None:
    sealed = seal_of(nested_pdf(), seal, [party("Alice Anders", "signer", drawn=True)])

    reader = PdfFileReader(io.BytesIO(sealed))
    pages = _leaves(reader.root.raw_get("/Pages"))
    assert pages == int(reader.root["/Pages"]["/Count"]) > 3
    assert [pdftotext(sealed, tmp_path, page=n).split()[:3] for n in (1, 2, 3)] == [
        ["Clause", "page", str(n)] for n in (1, 2, 3)
    ]
    assert "Completion certificate" in pdftotext(sealed, tmp_path, page=pages)


@pytest.mark.parametrize("damage", ["no kids", "own parent"])
def test_a_page_tree_that_is_not_a_tree_is_refused_when_a_page_is_appended(damage: str) -> None:
    writer = PdfFileWriter(stream_xrefs=False)
    root_ref = writer.root.raw_get("/Pages")
    if damage == "no kids":
        del root_ref.get_object()["/Kids"]
    else:
        root_ref.get_object()[pdf_name("/Parent")] = root_ref
    page = generic.DictionaryObject({pdf_name("/Type"): pdf_name("/Page")})

    with pytest.raises(PdfError, match="page tree"):
        _append_page(writer, page)
