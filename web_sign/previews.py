"""Page previews: PDF pages rendered to PNG on first request and kept on disk.

Previews live under ``cache_dir/previews/<sha256>/<n>.png``: the content address makes
them valid for every document and link with the same bytes. PDFium runs in a worker
thread of its own, under ``PDFIUM_LOCK``; files are written to a temporary name and
renamed into place, so a reader never sees half a PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pypdfium2

import texts
from storage.blobs import BlobStore
from storage.models import Document
from workflows.errors import Unavailable
from workflows.media import PDF, PDFIUM_LOCK

MAX_PREVIEW_PAGES = 20
PREVIEW_WIDTH = 800
MAX_PREVIEW_HEIGHT = 4000
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PageOutOfRange(LookupError):
    """The document has no such page (or none we preview)."""


def preview_pages(document: Document) -> int:
    """How many pages of a document the page shows previews of."""
    if document.media_type != PDF:
        return 0
    return min(document.page_count or MAX_PREVIEW_PAGES, MAX_PREVIEW_PAGES)


class Figure(NamedTuple):
    """A previewed page as a page shows it."""

    url: str
    """The preview image's address."""
    alt: str
    caption: str


def figures(document: Document, base: str, language: str) -> list[Figure]:
    """The pages of ``document`` a page previews (`preview_pages`), each with its image
    at ``base``/<n>.png and its alt text and caption in ``language``.

    The words are the catalogue's, filled in here: through ``t`` in the template, a call
    and a catalogue lookup for each word of each page, a six-page document's previews
    took two fifths of its page's render."""
    shown = preview_pages(document)
    total = document.page_count
    alt = texts.message(language, "doc.page_alt")
    caption = texts.message(language, "doc.page_of" if total else "doc.page")
    title = document.title
    return [
        Figure(
            f"{base}/{n}.png",
            alt.format(number=n, title=title),
            caption.format(number=n, total=total),
        )
        for n in range(1, shown + 1)
    ]


class Previews:
    """Renders and caches page PNGs; ``start`` and ``close`` bound its worker thread."""

    def __init__(self, *, cache_dir: Path, blobs: BlobStore) -> None:
        self.root = cache_dir / "previews"
        self.tmp_dir = cache_dir / "tmp"
        self.blobs = blobs
        self._executor: ThreadPoolExecutor | None = None
        self._inflight: dict[Path, asyncio.Future[Path]] = {}

    async def start(self) -> None:
        await asyncio.to_thread(self._prepare_dirs)
        # One thread: PDFium renders one page at a time anyway, and the default executor
        # stays free for file responses.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inkpost-preview")

    def _prepare_dirs(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp_dir.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def page_png(self, document: Document, number: int) -> Path:
        """The PNG of page ``number`` (from 1), rendered now unless it is cached."""
        if not 1 <= number <= preview_pages(document):
            raise PageOutOfRange(number)
        if not SHA256.match(document.sha256):
            raise ValueError(f"document {document.id} has a malformed SHA-256")
        target = self.root / document.sha256 / f"{number}.png"
        if target.is_file():
            return target
        return await self._once(target, lambda: self._render(document, number, target))

    async def _render(self, document: Document, number: int, target: Path) -> Path:
        source = await self._source(document)
        await self._in_worker(render_page, source, number, target, self.tmp_dir)
        return target

    async def _source(self, document: Document) -> Path:
        """A local file with the document's bytes: the store's own, or a cached copy."""
        local = self.blobs.local_path(document.blob_key)
        if local is not None:
            return local
        copy = self.root / document.sha256 / "document.pdf"
        if copy.is_file():
            return copy
        return await self._once(copy, lambda: self._fetch(document, copy))

    async def _fetch(self, document: Document, target: Path) -> Path:
        handle, name = await asyncio.to_thread(_temp_file, self.tmp_dir, ".pdf")
        digest = hashlib.sha256()
        try:
            with handle:
                async for chunk in self.blobs.read(document.blob_key):
                    digest.update(chunk)
                    await asyncio.to_thread(handle.write, chunk)
            if digest.hexdigest() != document.sha256:
                raise Unavailable(f"the stored bytes of {document.ref} do not match its SHA-256")
            await asyncio.to_thread(_move_into_place, Path(name), target)
        except BaseException:
            await asyncio.to_thread(Path(name).unlink, missing_ok=True)
            raise
        return target

    async def _in_worker(self, fn: Callable[..., None], *args: object) -> None:
        if self._executor is None:
            raise RuntimeError("previews are not started (or already closed)")
        await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _once(self, key: Path, make: Callable[[], Awaitable[Path]]) -> Path:
        """Run ``make`` once for concurrent requests of the same file; a visitor who goes
        away does not cancel the work the others wait for."""
        future = self._inflight.get(key)
        if future is None:
            future = asyncio.ensure_future(make())
            self._inflight[key] = future
            future.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.shield(future)

    def _settle(self, key: Path, done: asyncio.Future[Path]) -> None:
        self._inflight.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved, so an error nobody awaited is not reported twice


def render_page(source: Path, number: int, target: Path, tmp_dir: Path) -> None:
    """Render one page about ``PREVIEW_WIDTH`` pixels wide and save it as a PNG."""
    with PDFIUM_LOCK:
        pdf = pypdfium2.PdfDocument(source)
        try:
            if number > len(pdf):
                raise PageOutOfRange(number)
            page = pdf[number - 1]
            try:
                width, height = page.get_size()
                # PDFium rounds the bitmap size up: aim a hair below the target.
                scale = min(PREVIEW_WIDTH / width, MAX_PREVIEW_HEIGHT / height) * (1 - 1e-9)
                bitmap = page.render(
                    scale=scale, rev_byteorder=True, fill_color=(255, 255, 255, 255)
                )
                try:
                    if bitmap.mode != "RGB":
                        raise ValueError(f"PDFium rendered {bitmap.mode}, not RGB")
                    pixels = bytes(bitmap.buffer)
                    size = (bitmap.width, bitmap.height, bitmap.stride)
                finally:
                    bitmap.close()
            finally:
                page.close()
        finally:
            pdf.close()
    png = encode_png(pixels, width=size[0], height=size[1], stride=size[2])
    handle, name = _temp_file(tmp_dir, ".png")
    try:
        with handle:
            handle.write(png)
        _move_into_place(Path(name), target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def encode_png(rgb: bytes, *, width: int, height: int, stride: int) -> bytes:
    """An 8-bit RGB PNG of packed rows (each ``stride`` bytes, ``width * 3`` used)."""
    row = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride : y * stride + row] for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _temp_file(directory: Path, suffix: str) -> tuple[BinaryIO, str]:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix="part-", suffix=suffix)
    return os.fdopen(fd, "wb"), name


def _move_into_place(temporary: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(temporary, target)
