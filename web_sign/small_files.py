"""Small files kept in memory: the letters, invoices and fee tables most links lead to.

A blob never changes once written (a new version of a document is a new blob), so its
bytes, once read and checked against the document's size and SHA-256, can answer every
later download without a disk read, a hand-off to a thread and ``sendfile``: for a file
of a few kilobytes those cost many times what sending its bytes does. What is kept is
bounded: files of at most ``max_file`` bytes, ``max_total`` in all, the least recently
used leaving first. The validators the file was answered with are kept beside its bytes,
so a kept file is answered without touching the disk at all.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import NamedTuple

from storage.blobs import BlobStore
from storage.errors import StorageError
from storage.models import Document
from web_sign.downloads import Validators

MAX_FILE = 256 * 1024
MAX_TOTAL = 32 * 1024 * 1024


class Kept(NamedTuple):
    content: bytes
    validators: Validators
    """What the file was first answered with (for a local file, its modification time and
    size, as ``web.FileResponse`` has them)."""


class SmallFiles:
    """The bytes of small blobs, read once and checked."""

    def __init__(
        self, blobs: BlobStore, *, max_file: int = MAX_FILE, max_total: int = MAX_TOTAL
    ) -> None:
        self.blobs = blobs
        self.max_file = max_file
        self.max_total = max_total
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._total = 0

    def fits(self, document: Document) -> bool:
        return document.size <= self.max_file

    @property
    def total(self) -> int:
        """Bytes kept now."""
        return self._total

    def kept(self, document: Document) -> Kept | None:
        """The document's bytes and validators when they are kept: no disk, no wait."""
        key = document.blob_key
        found = self._kept.get(key)
        if found is not None:
            self._kept.move_to_end(key)
        return found

    async def content(self, document: Document, validators: Validators) -> bytes | None:
        """The document's bytes, kept from now on with ``validators``; None when it is
        too large to keep, or its blob cannot be read or does not match the document (the
        caller then sends it as any other, and meets what is wrong there)."""
        found = self.kept(document)
        if found is not None:
            return found.content
        if not self.fits(document):
            return None
        key = document.blob_key
        try:
            content = await self._read(key)
        except (OSError, StorageError):
            return None
        if len(content) != document.size or hashlib.sha256(content).hexdigest() != document.sha256:
            return None
        if key not in self._kept:  # another request may have read it meanwhile
            self._kept[key] = Kept(content, validators)
            self._total += len(content)
            while self._total > self.max_total:
                _, dropped = self._kept.popitem(last=False)
                self._total -= len(dropped.content)
        return content

    async def _read(self, key: str) -> bytes:
        local = self.blobs.local_path(key)
        if local is not None:
            return await asyncio.to_thread(local.read_bytes)
        return b"".join([chunk async for chunk in self.blobs.read(key)])
