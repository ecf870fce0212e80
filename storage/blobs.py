"""The durable medium: a ``BlobStore`` port and its content-addressed file store.

Uploads are first *staged*: streamed into a temporary file while their SHA-256 and size
are computed and the size limit enforced, so memory never grows with the file. A staged
blob can be inspected (sniffed, parsed) and then committed to the store or discarded.
Keys are the SHA-256 of the content, so the same bytes are stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from storage.errors import BlobNotFound, BlobStoreUnavailable, BlobTooLarge, EmptyBlob

_KEY = re.compile(r"[0-9a-f]{64}")
"""A blob's key: the SHA-256 of its content in lowercase hex."""

CHUNK = 256 * 1024


@dataclass(frozen=True)
class StagedBlob:
    """An upload held in a temporary file until it is committed or discarded."""

    path: Path
    sha256: str
    size: int

    @property
    def key(self) -> str:
        return self.sha256

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@runtime_checkable
class BlobStore(Protocol):
    """Write-once storage of document bytes, addressed by their SHA-256."""

    staging_dir: Path

    async def commit(self, staged: StagedBlob) -> str:
        """Store a staged blob (once; the same bytes again are a no-op) and return its key."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int: ...

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes ``start`` to ``end`` (exclusive; None for the end of the blob)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A read-only local file holding the blob, when the store has one."""
        ...

    async def check(self) -> None:
        """Raise when the medium cannot be read and written."""
        ...


async def stage(chunks: AsyncIterable[bytes], *, staging_dir: Path, max_bytes: int) -> StagedBlob:
    """Stream ``chunks`` into a temporary file, hashing and counting as they arrive."""
    handle, path = await asyncio.to_thread(_open_staging_file, staging_dir)
    digest = hashlib.sha256()
    size = 0
    try:
        with handle:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLarge(max_bytes)
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_flush_and_sync, handle)
        if size == 0:
            raise EmptyBlob()
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return StagedBlob(path=path, sha256=digest.hexdigest(), size=size)


def _open_staging_file(staging_dir: Path) -> tuple[BinaryIO, Path]:
    staging_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging_dir, prefix="upload-", suffix=".part")
    return os.fdopen(fd, "wb"), Path(name)


def _flush_and_sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


async def iter_file(path: Path, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
    """Read a local file in chunks, off the event loop."""
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            want = CHUNK if remaining is None else min(CHUNK, remaining)
            chunk = await asyncio.to_thread(handle.read, want)
            if not chunk:
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk


class FileBlobStore:
    """Blobs as read-only files under ``root/ab/cd/<sha256>``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging_dir = root / ".staging"

    def _path(self, key: str) -> Path:
        if _KEY.fullmatch(key) is None:
            raise BlobNotFound(key)
        return self.root / key[:2] / key[2:4] / key

    async def commit(self, staged: StagedBlob) -> str:
        await asyncio.to_thread(self._commit, staged)
        return staged.key

    def _commit(self, staged: StagedBlob) -> None:
        target = self._path(staged.key)
        if target.exists():
            staged.discard()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged.path, 0o444)
        os.replace(staged.path, target)
        _fsync_dir(target.parent)

    async def exists(self, key: str) -> bool:
        try:
            return self._path(key).is_file()
        except BlobNotFound:
            return False

    async def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as e:
            raise BlobNotFound(key) from e

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        if not path.is_file():
            raise BlobNotFound(key)
        async for chunk in iter_file(path, start=start, end=end):
            yield chunk

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    async def check(self) -> None:
        try:
            await asyncio.to_thread(self._check)
        except OSError as e:
            raise BlobStoreUnavailable(
                f"the blob directory {self.root} is not writable: {e}"
            ) from e

    def _check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.staging_dir, prefix="health-")
        os.close(fd)
        os.unlink(name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
