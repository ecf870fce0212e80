"""The embedded subsets of Noto Sans: each file's font holds the glyphs its text uses
(and printable ASCII), its CIDSet names exactly the glyphs it holds, and subsets made
once per process stay right when files use other letters or are written in threads."""

from __future__ import annotations

import functools
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fontTools import ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PdfFileWriter

from tests.workflows.pdf_inputs import pdffonts, pdftotext
from workflows.signing import typeface


def one_page(text: str, face: typeface.Face = "regular") -> bytes:
    """A page showing ``text`` in a font engine of ``face``."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = typeface.font_engine(writer, face)
    resources = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font.as_resource()})}
    )
    content = b"BT /F1 14 Tf 1 0 0 1 72 760 Tm %s ET" % font.shape(text).graphics_ops
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(
                generic.NumberObject(v) for v in (0, 0, 595, 842)
            ),
            pdf_name("/Resources"): writer.add_object(resources),
            pdf_name("/Contents"): writer.add_object(generic.StreamObject(stream_data=content)),
        }
    )
    writer.insert_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def embedded(pdf: bytes) -> tuple[ttLib.TTFont, set[int], dict[int, int]]:
    """The one embedded font program of ``pdf``, the CIDs its CIDSet names, and the
    widths its /W array gives, by CID."""
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    [font] = page["/Resources"]["/Font"].values()
    [cidfont] = font.get_object()["/DescendantFonts"]
    cidfont = cidfont.get_object()
    descriptor = cidfont["/FontDescriptor"]
    program = ttLib.TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().data))
    bits = descriptor["/CIDSet"].get_object().data
    cids = {n for n in range(len(bits) * 8) if bits[n // 8] & (0x80 >> (n % 8))}
    widths: dict[int, int] = {}
    entries = list(cidfont["/W"])
    for first, chunk in zip(entries[::2], entries[1::2], strict=True):
        widths.update((int(first) + k, int(w)) for k, w in enumerate(chunk))
    return program, cids, widths


def glyph_ids(text: str, face: typeface.Face = "regular") -> set[int]:
    font = ttLib.TTFont(io.BytesIO(typeface.font_file(face)))
    cmap = font.getBestCmap()
    return {font.getGlyphID(cmap[ord(char)]) for char in text}


def with_outline(program: ttLib.TTFont) -> set[int]:
    outlines = program["glyf"]
    order = program.getGlyphOrder()
    return {n for n, name in enumerate(order) if outlines[name].numberOfContours != 0}


@pytest.mark.parametrize("face", ["regular", "bold"])
def test_a_subset_holds_the_letters_used_and_ascii_and_its_cidset_names_what_it_holds(
    face: typeface.Face, tmp_path: Path
) -> None:
    text = "Łukasz Żółć"
    program, cids, widths = embedded(one_page(text, face))

    held = with_outline(program)
    assert glyph_ids("ŁŻółć" + "AZaz09@~", face) <= held
    # The rest of the alphabets its letters come from, for the next name.
    assert glyph_ids("ĄĘŚŹąęśźéüßÅø", face) <= held
    assert not glyph_ids("ЖΩ", face) & held  # alphabets no text used are left out
    order = program.getGlyphOrder()
    assert held | glyph_ids(text, face) | {0} <= cids
    # Named besides: glyphs of those alphabets that draw nothing (no-break space…).
    assert all(program["glyf"][order[cid]].numberOfContours == 0 for cid in cids - held - {0})
    metrics = ttLib.TTFont(io.BytesIO(typeface.font_file(face)))["hmtx"]
    assert set(widths) == glyph_ids(text, face)
    assert all(widths[cid] == metrics[order[cid]][0] for cid in widths)
    assert pdftotext(one_page(text, face), tmp_path).strip() == text


def test_files_using_other_letters_each_embed_their_own(tmp_path: Path) -> None:
    cyrillic, polish = one_page("Ольга Ж"), one_page("Łódź ł")

    cyrillic_font, _, _ = embedded(cyrillic)
    polish_font, _, _ = embedded(polish)

    assert glyph_ids("ОльгаЖ") <= with_outline(cyrillic_font)
    assert not glyph_ids("Łół") & with_outline(cyrillic_font)
    assert glyph_ids("Łół") <= with_outline(polish_font)
    assert not glyph_ids("ОЖ") & with_outline(polish_font)
    assert pdftotext(cyrillic, tmp_path).strip() == "Ольга Ж"
    assert pdftotext(polish, tmp_path).strip() == "Łódź ł"


def test_files_written_in_threads_at_once_each_show_their_text(tmp_path: Path) -> None:
    typeface._parsed.cache_clear()  # the face is read by the threads themselves
    typeface._embedded.cache_clear()
    texts = [f"{name} {n}" for n, name in enumerate(["Åsa", "Żaneta", "Γιώργος", "Ольга"] * 3)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        pdfs = list(pool.map(one_page, texts))

    for number, (text, pdf) in enumerate(zip(texts, pdfs, strict=True)):
        folder = tmp_path / str(number)
        folder.mkdir()
        assert pdftotext(pdf, folder).strip() == text
        [font] = pdffonts(pdf, folder)
        assert font["emb"] == "yes" and font["uni"] == "yes"
        program, cids, _ = embedded(pdf)
        assert glyph_ids(text.replace(" ", "")) <= with_outline(program) <= cids


LINES = [
    "Completion certificate",
    "Zażółć gęślą jaźń — Łódź, Šťastný, Øresund",
    "Identified by the link sent to anna@example.com",
    "g\u0308 and e\u0301: marks the font composes or stacks",
    "Completion certificate",  # again, once more in the same file
]


def _shaped_in_turn(
    lines: list[str], face: typeface.Face, *, kept: bool
) -> tuple[list[bytes], bytes]:
    """Each line's text operators from one engine, and the ToUnicode map it writes:
    through the lines kept per process, or (not ``kept``) by pyHanko's shaping itself."""
    writer = PdfFileWriter(stream_xrefs=False)
    font = typeface.font_engine(writer, face, size=9.5)
    shape = font.shape if kept else functools.partial(GlyphAccumulator.shape, font)
    ops = [shape(line).graphics_ops for line in lines]
    font.prepare_write()
    return ops, font._format_tounicode_cmap().data


@pytest.mark.parametrize("face", ["regular", "bold"])
def test_lines_shaped_once_per_process_write_what_pyhanko_writes(
    face: typeface.Face, tmp_path: Path
) -> None:
    typeface._shaped.clear()
    expected = _shaped_in_turn(LINES, face, kept=False)
    assert not typeface._shaped
    assert _shaped_in_turn(LINES, face, kept=True) == expected  # kept as they are shaped
    assert typeface._shaped
    # A line whose glyphs pyHanko maps by looking at what came before is not kept.
    assert not any("g\u0308" in key[2] for key in typeface._shaped)
    assert _shaped_in_turn(LINES, face, kept=True) == expected  # from the kept lines
    # Another file, its lines in another order, reads as pyHanko would write it.
    reordered = list(reversed(LINES))
    assert _shaped_in_turn(reordered, face, kept=True) == _shaped_in_turn(
        reordered, face, kept=False
    )
    assert "Zażółć gęślą jaźń" in pdftotext(one_page(" ".join(LINES[:3]), face), tmp_path)


def test_the_lines_kept_are_the_last_used_and_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typeface, "SHAPED_LINES", 3)
    typeface._shaped.clear()
    writer = PdfFileWriter(stream_xrefs=False)
    font = typeface.font_engine(writer, "regular")
    for line in ["one", "two", "three", "one", "four"]:
        font.shape(line)
    assert [key[2] for key in typeface._shaped] == ["three", "one", "four"]
