"""The typeface of what Inkpost writes into a PDF: Noto Sans, regular and bold.

Noto Sans covers Latin with every European letter (Polish, Czech, Swedish, Turkish…),
Greek and Cyrillic. It ships inside the package (``fonts/``, with its SIL Open Font
License) and is embedded in every PDF that uses it, subset to the glyphs used, so that any
reader shows a name exactly as it was typed and a PDF/A document keeps every font
embedded. A character the font lacks (a Chinese name, an emoji) is printed as "?", and
``printable`` says so, so that the page can say it too.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from fontTools import ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import BasePdfFileWriter

Face = Literal["regular", "bold"]
FILES: dict[Face, str] = {"regular": "NotoSans-Regular.ttf", "bold": "NotoSans-Bold.ttf"}
MISSING = "?"


LAYOUT_TABLES = ("GSUB", "GPOS", "GDEF", "DSIG")
"""Tables left out of what is embedded: ligatures, kerning and mark positioning (names
are composed, NFC, so each letter has a glyph of its own). Reading them made up most of
the time a subset took: 0.3-0.45 s per font and sealed file with them, 0.05 s without."""


@functools.cache
def font_file(face: Face) -> bytes:
    """The face's TrueType file as it is embedded: as shipped, without `LAYOUT_TABLES`."""
    shipped = (resources.files(__package__) / "fonts" / FILES[face]).read_bytes()
    font = ttLib.TTFont(io.BytesIO(shipped))
    for tag in LAYOUT_TABLES:
        if tag in font:
            del font[tag]
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


@functools.cache
def _metrics(face: Face) -> tuple[dict[int, int], int]:
    """Advance width of each character the face has, and its units per em."""
    font = ttLib.TTFont(io.BytesIO(font_file(face)), lazy=True)
    advances = font["hmtx"].metrics
    widths = {code: advances[glyph][0] for code, glyph in font.getBestCmap().items()}
    return widths, int(font["head"].unitsPerEm)


def covers(char: str, face: Face = "regular") -> bool:
    return ord(char) in _metrics(face)[0]


def printable(text: str, face: Face = "regular") -> tuple[str, bool]:
    """``text`` as the face can print it: composed (NFC), control characters as spaces,
    and "?" for a character the face lacks; the flag says whether any was replaced."""
    out: list[str] = []
    replaced = False
    for char in unicodedata.normalize("NFC", text):
        if unicodedata.category(char).startswith("C"):
            out.append(" ")
        elif covers(char, face):
            out.append(char)
        else:
            out.append(MISSING)
            replaced = True
    return "".join(out), replaced


def width(text: str, size: float, face: Face = "regular") -> float:
    """How wide ``text`` is at ``size`` points (without kerning, so never narrower than
    it prints)."""
    widths, units = _metrics(face)
    fallback = widths.get(ord(MISSING), units // 2)
    return sum(widths.get(ord(char), fallback) for char in text) * size / units


def font_engine(writer: BasePdfFileWriter, face: Face, size: float = 10) -> GlyphAccumulator:
    """A font of ``writer`` that collects the glyphs it shapes and embeds their subset
    when the writer writes."""
    return _Subset(writer, io.BytesIO(font_file(face)), size)


@dataclass(frozen=True)
class EmbeddedFont(FontEngineFactory):
    """The face for pyHanko's stamps (``TextBoxStyle(font=...)``), embedded and subset."""

    face: Face = "regular"

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: object = None
    ) -> GlyphAccumulator:
        return font_engine(writer, self.face)


class _Subset(GlyphAccumulator):
    """pyHanko's subsetting font, with the CIDSet a PDF/A-1 reader requires of a subset
    CID font (PDF/A-1, 6.3.5): every glyph the embedded subset holds (those shaped, and
    the parts of composite ones). The subset keeps glyph numbers, which are the CIDs."""

    def prepare_write(self) -> None:
        if self._write_prepared:
            return
        super().prepare_write()
        glyphs = self.tt["glyf"]
        cids = {0, *(cid for cid, _ in self._glyphs.values())}
        cids.update(
            number
            for number, name in enumerate(self.tt.getGlyphOrder())
            if glyphs[name].numberOfContours != 0
        )
        bits = bytearray(max(cids) // 8 + 1)
        for cid in cids:
            bits[cid // 8] |= 0x80 >> (cid % 8)
        cid_set = generic.StreamObject(stream_data=bytes(bits))
        cid_set.compress()
        descriptor = self.cidfont_obj["/FontDescriptor"].get_object()
        descriptor[generic.pdf_name("/CIDSet")] = self.writer.add_object(cid_set)
