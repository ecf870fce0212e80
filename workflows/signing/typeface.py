"""The typeface of what Inkpost writes into a PDF: Noto Sans, regular and bold.

Noto Sans covers Latin with every European letter (Polish, Czech, Swedish, Turkish…),
Greek and Cyrillic. It ships inside the package (``fonts/``, with its SIL Open Font
License) and is embedded in every PDF that uses it, subset to the glyphs used (with
printable ASCII, ``ALWAYS_EMBEDDED``, and the rest of each alphabet of ``ALPHABETS`` they
come from), so that any reader shows a name exactly as it was typed and a PDF/A document
keeps every font embedded. Each face is read once per process and each subset made once
per glyph set: a seal's stamps and certificate page do not parse the font again. A
character the font lacks (a Chinese name, an emoji) is printed as "?", and ``printable``
says so, so that the page can say it too.
"""

from __future__ import annotations

import functools
import io
import itertools
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import uharfbuzz as hb
from fontTools import subset, ttLib
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.font.api import FontEngine, FontEngineFactory, ShapeResult
from pyhanko.pdf_utils.font.opentype import (
    CIDFontType2,
    GlyphAccumulator,
    _build_type0_font_from_cidfont,
    _read_ps_name,
)
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


@functools.cache
def _as_they_are(face: Face) -> frozenset[str]:
    """The characters the face prints as they are: those it has, but for control and
    format characters."""
    return frozenset(
        char
        for char in map(chr, _metrics(face)[0])
        if not unicodedata.category(char).startswith("C")
    )


@functools.cache
def _char_widths(face: Face) -> dict[str, int]:
    return {chr(code): advance for code, advance in _metrics(face)[0].items()}


def printable(text: str, face: Face = "regular") -> tuple[str, bool]:
    """``text`` as the face can print it: composed (NFC), control characters as spaces,
    and "?" for a character the face lacks; the flag says whether any was replaced."""
    text = unicodedata.normalize("NFC", text)
    if _as_they_are(face).issuperset(text):  # most text, checked at C speed
        return text, False
    out: list[str] = []
    replaced = False
    for char in text:
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
    widths, units = _char_widths(face), _metrics(face)[1]
    fallback = widths.get(MISSING, units // 2)
    return sum(map(widths.get, text, itertools.repeat(fallback))) * size / units


def font_engine(writer: BasePdfFileWriter, face: Face, size: float = 10) -> GlyphAccumulator:
    """A font of ``writer`` that collects the glyphs it shapes and embeds their subset
    when the writer writes."""
    return _Subset(writer, face, size)


@dataclass(frozen=True)
class EmbeddedFont(FontEngineFactory):
    """The face for pyHanko's stamps (``TextBoxStyle(font=...)``), embedded and subset."""

    face: Face = "regular"

    def create_font_engine(
        self, writer: BasePdfFileWriter, obj_stream: object = None
    ) -> GlyphAccumulator:
        return font_engine(writer, self.face)


@dataclass(frozen=True)
class _Parsed:
    """A face read once per process and only read from afterwards: what every font
    engine of that face shapes with and measures by."""

    tt: ttLib.TTFont
    hb_font: hb.Font
    ps_name: str
    units_per_em: int
    advances: tuple[int, ...]
    """Advance width of each glyph, by glyph number."""
    reverse_cmap: dict[str, set[int]]
    always_embedded: frozenset[int]
    """The glyphs of ``ALWAYS_EMBEDDED`` the face has."""
    alphabet_of: dict[int, frozenset[int]]
    """For each glyph of a character in one of `ALPHABETS`, the glyphs of that alphabet."""

    def subset_for(self, used: Iterable[int]) -> frozenset[int]:
        """The glyphs a subset holds for ``used``: those, `ALWAYS_EMBEDDED`, and the
        rest of each alphabet of `ALPHABETS` they come from."""
        glyphs = set(self.always_embedded)
        alphabets = self.alphabet_of
        for glyph in used:
            if glyph in glyphs:  # printable ASCII, or of an alphabet already held
                continue
            glyphs.add(glyph)
            more = alphabets.get(glyph)
            if more is not None:
                glyphs |= more
        return frozenset(glyphs)


ALWAYS_EMBEDDED = "".join(chr(code) for code in range(0x20, 0x7F))
"""Characters whose glyphs every subset holds, used or not (printable ASCII, about 6 kB
more per embedded subset): names and dates in these letters then need no subset of their
own, so the subsets that most stamps and certificates embed are made once per process."""

ALPHABETS = (
    range(0xA0, 0x100),  # Latin-1 Supplement: é, ö, å, ß, ø…
    range(0x100, 0x180),  # Latin Extended-A: ą, ł, ž, č, ő, ş…
    range(0x180, 0x250),  # Latin Extended-B: ș, ț, ǎ…
    range(0x370, 0x400),  # Greek
    range(0x400, 0x530),  # Cyrillic and its supplement
    range(0x1E00, 0x1F00),  # Latin Extended Additional: ạ, ế, ỳ…
    range(0x2000, 0x2070),  # General Punctuation: dashes, quotes, ellipsis
)
"""Alphabets a subset holds whole once a text uses one of their characters. Names vary
from one seal to the next ("Chloé", "Dąbrowski", "Gösta"), and a subset made for every
new set of letters would cost a seal about a fifth of its time; by alphabet, a process
makes the few subsets its texts need once. An alphabet adds 10-30 kB to a subset that
uses it; a text of printable ASCII alone embeds no more than before."""

_parse_lock = threading.Lock()


@functools.cache
def _parsed(face: Face) -> _Parsed:
    data = font_file(face)
    with _parse_lock:
        tt = ttLib.TTFont(io.BytesIO(data))
        tt.ensureDecompiled(recurse=False)  # every table read now: threads share the font
        hmtx = tt["hmtx"]
        cmap = tt.getBestCmap()
        return _Parsed(
            tt=tt,
            hb_font=hb.Font(hb.Face(data)),
            ps_name=_read_ps_name(tt),
            units_per_em=int(tt["head"].unitsPerEm),
            advances=tuple(hmtx[name][0] for name in tt.getGlyphOrder()),
            reverse_cmap=tt["cmap"].buildReversed(),
            always_embedded=frozenset(
                tt.getGlyphID(cmap[ord(char)]) for char in ALWAYS_EMBEDDED if ord(char) in cmap
            ),
            alphabet_of=_alphabets(tt, cmap),
        )


def _alphabets(tt: ttLib.TTFont, cmap: dict[int, str]) -> dict[int, frozenset[int]]:
    alphabet_of: dict[int, frozenset[int]] = {}
    for codes in ALPHABETS:
        glyphs = frozenset(tt.getGlyphID(cmap[code]) for code in codes if code in cmap)
        for glyph in glyphs:
            alphabet_of.setdefault(glyph, glyphs)
    return alphabet_of


@dataclass(frozen=True)
class _Embedded:
    """A subset of a face as it is embedded: its font program and its CIDSet, both
    compressed (``/FlateDecode``)."""

    font_program: bytes
    cid_set: bytes


@functools.lru_cache(maxsize=64)
def _embedded(face: Face, glyphs: frozenset[int]) -> _Embedded:
    """The subset of ``face`` holding ``glyphs`` (and the parts of composite ones), glyph
    numbers kept, made as pyHanko makes it (its options), and the CIDSet a PDF/A-1 reader
    requires of a subset CID font (PDF/A-1, 6.3.5): every glyph the subset holds. The
    same glyphs give the same bytes, so a subset is made once per process (kept for the
    64 glyph sets used last)."""
    tt = ttLib.TTFont(io.BytesIO(font_file(face)))
    options = subset.Options(layout_closure=False)
    options.drop_tables += ["GPOS", "GDEF", "GSUB"]
    options.retain_gids = True
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(gids=sorted(glyphs))
    subsetter.subset(tt)
    program = io.BytesIO()
    tt.save(program)
    stream = generic.StreamObject(stream_data=program.getvalue())
    stream.compress()
    outlines = tt["glyf"]
    cids = {0, *glyphs}
    cids.update(
        number
        for number, name in enumerate(tt.getGlyphOrder())
        if outlines[name].numberOfContours != 0
    )
    bits = bytearray(max(cids) // 8 + 1)
    for cid in cids:
        bits[cid // 8] |= 0x80 >> (cid % 8)
    cid_set = generic.StreamObject(stream_data=bytes(bits))
    cid_set.compress()
    return _Embedded(font_program=stream.encoded_data, cid_set=cid_set.encoded_data)


def _flate(encoded: bytes) -> generic.StreamObject:
    return generic.StreamObject(
        {generic.pdf_name("/Filter"): generic.pdf_name("/FlateDecode")}, encoded_data=encoded
    )


class _CachedProgram(CIDFontType2):
    """pyHanko's TrueType CID font, embedding a font program made beforehand."""

    program: bytes = b""

    def set_font_file(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        reference = writer.add_object(_flate(self.program))
        self._font_descriptor[generic.pdf_name("/FontFile2")] = reference
        return reference


@dataclass(frozen=True)
class _Shaped:
    """A line as a face shapes it at one size: its text operators, and what shaping it
    records in the engine (the glyphs it uses, what each one reads as)."""

    result: ShapeResult
    glyphs: tuple[int, ...]
    reads_as: tuple[tuple[int, str], ...]


SHAPED_LINES = 1024
"""Shaped lines kept per process, the last used: a seal's certificate repeats most of its
lines (headings, what each party did, how to check the seal) from one seal to the next."""
_shaped: OrderedDict[tuple[Face, float, str, bool], _Shaped] = OrderedDict()
_shaped_lock = threading.Lock()


class _Recording(dict[int, str]):
    """What shaping a line alone says each glyph reads as. pyHanko asks whether a glyph
    reads as something yet only for a cluster of several glyphs, whose answer would
    depend on the lines shaped before: such a line is noted (``asked``) and not kept."""

    asked = False

    def __contains__(self, key: object) -> bool:
        self.asked = True
        return super().__contains__(key)


class _Subset(GlyphAccumulator):
    """pyHanko's subsetting font engine (``GlyphAccumulator``), reading a face parsed
    once per process (``_parsed``) instead of parsing it anew for every engine, and
    embedding subsets made once per glyph set (``_embedded``), with the CIDSet a PDF/A-1
    reader requires. The subset keeps glyph numbers, which are the CIDs."""

    def __init__(self, writer: BasePdfFileWriter, face: Face, size: float) -> None:
        # What GlyphAccumulator.__init__ sets, for a TrueType face, from the parsed one.
        parsed = _parsed(face)
        # GlyphAccumulator hands its (untyped) size on as given, a float included.
        FontEngine.__init__(
            self,
            writer,
            parsed.ps_name,
            embedded_subset=True,
            font_size=size,  # type: ignore[arg-type]
        )
        self._face: Face = face
        self._parsed = parsed
        self.hb_font = parsed.hb_font
        self.tt = parsed.tt
        self._font_ref = writer.allocate_placeholder()
        self.cff_charset = None
        self.use_raw_gids = True
        self.cidfont_obj = _CachedProgram(parsed.tt, parsed.ps_name, self.subset_prefix)
        self.features = None
        self.units_per_em = parsed.units_per_em
        self._glyphs: dict[int, tuple[int, int]] = {}
        self._cid_to_unicode: dict[int, str] = {}
        self.ot_language_tag = None
        self.ot_script_tag = None
        self.writing_direction = None
        self.bcp47_lang_code = None
        self._subset_created = self._write_prepared = False

    @property
    def _reverse_cmap(self) -> dict[str, set[int]]:
        return self._parsed.reverse_cmap

    def shape(self, txt: str, with_actual_text: bool = True) -> ShapeResult:
        """What pyHanko's shaping gives, with what it records in the engine, shaped once
        per process for each face, size and line (`SHAPED_LINES`)."""
        key = (self._face, float(self.font_size), txt, with_actual_text)
        with _shaped_lock:
            known = _shaped.get(key)
            if known is not None:
                _shaped.move_to_end(key)
        if known is None:
            known = self._shaped_alone(txt, with_actual_text)
            if known is None:
                return super().shape(txt, with_actual_text)
            with _shaped_lock:
                _shaped[key] = known
                if len(_shaped) > SHAPED_LINES:
                    _shaped.popitem(last=False)
        for glyph in known.glyphs:
            self._get_cid_and_width(glyph)
        self._cid_to_unicode.update(known.reads_as)
        return known.result

    def _shaped_alone(self, txt: str, with_actual_text: bool) -> _Shaped | None:
        """``txt`` shaped by an engine that has shaped nothing else (this one, its
        records set aside meanwhile); None when the line's records would depend on what
        was shaped before it."""
        glyphs, reads_as = self._glyphs, self._cid_to_unicode
        recording = _Recording()
        self._glyphs, self._cid_to_unicode = {}, recording
        try:
            result = super().shape(txt, with_actual_text)
            used = tuple(self._glyphs)
        finally:
            self._glyphs, self._cid_to_unicode = glyphs, reads_as
        if recording.asked:
            return None
        return _Shaped(result, used, tuple(recording.items()))

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        found = self._glyphs.get(glyph_id)
        if found is None:
            found = self._glyphs[glyph_id] = (glyph_id, self._parsed.advances[glyph_id])
        return found

    def prepare_write(self) -> None:
        if self._write_prepared:
            return
        embedded = _embedded(self._face, self._parsed.subset_for(self._glyphs))
        cidfont = self.cidfont_obj
        assert isinstance(cidfont, _CachedProgram)
        cidfont.program = embedded.font_program
        self._subset_created = True  # the subset is ``_embedded``'s: the shared face stays whole
        type0 = _build_type0_font_from_cidfont(
            writer=self.writer,
            cidfont_obj=cidfont,
            widths_by_cid_iter=iter(sorted(self._glyphs.values(), key=lambda t: t[0])),
            obj_stream=self.obj_stream,
            vertical=False,
        )
        type0["/ToUnicode"] = self.writer.add_object(self._format_tounicode_cmap())
        self.writer.add_object(type0, self.obj_stream, idnum=self._font_ref.idnum)
        descriptor = cidfont["/FontDescriptor"].get_object()
        descriptor[generic.pdf_name("/CIDSet")] = self.writer.add_object(_flate(embedded.cid_set))
        self._write_prepared = True
