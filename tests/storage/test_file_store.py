"""FileBlobStore and stage(): the content-addressed local store and the upload staging."""

from __future__ import annotations

import hashlib
import os
import stat
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.blobs import BlobStore, FileBlobStore, StagedBlob, stage
from storage.errors import BlobNotFound, BlobStoreUnavailable, BlobTooLarge, EmptyBlob

MAX_BYTES = 64 * 1024 * 1024


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def stage_bytes(store: FileBlobStore, data: bytes, max_bytes: int = MAX_BYTES) -> StagedBlob:
    return await stage(chunks_of(data), staging_dir=store.staging_dir, max_bytes=max_bytes)


async def read_all(store: FileBlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start=start, end=end)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> FileBlobStore:
    return FileBlobStore(tmp_path / "blobs")


async def test_commit_moves_the_staged_file_into_place(store: FileBlobStore) -> None:
    assert isinstance(store, BlobStore)
    data = os.urandom(300 * 1024)
    staged = await stage_bytes(store, data)
    assert staged.key == staged.sha256 == sha(data)
    assert staged.size == len(data)
    staged_inode = staged.path.stat().st_ino

    key = await store.commit(staged)

    target = store.root / key[:2] / key[2:4] / key
    assert key == sha(data)
    assert target.read_bytes() == data
    # Atomic: the staged file was renamed into place (same inode), not copied, so the
    # target never exists half-written.
    assert target.stat().st_ino == staged_inode
    assert not staged.path.exists()
    assert files_under(store.staging_dir) == []
    assert store.local_path(key) == target
    assert await read_all(store, key) == data


async def test_committed_file_is_read_only(store: FileBlobStore) -> None:
    key = await store.commit(await stage_bytes(store, b"final"))
    path = store.local_path(key)
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


async def test_same_bytes_are_stored_once(store: FileBlobStore) -> None:
    data = b"the same document twice\n" * 100
    first = await stage_bytes(store, data)
    second = await stage_bytes(store, data)

    key = await store.commit(first)
    path = store.local_path(key)
    assert path is not None
    inode = path.stat().st_ino
    assert await store.commit(second) == key

    assert not second.path.exists(), "the duplicate's staged file is discarded"
    assert path.stat().st_ino == inode, "the stored file is not replaced"
    assert files_under(store.root) == [path]


async def test_range_reads(store: FileBlobStore) -> None:
    data = os.urandom(600 * 1024)  # several read chunks
    key = await store.commit(await stage_bytes(store, data))
    n = len(data)
    for start, end in [
        (0, 10),
        (5, None),
        (1000, 300 * 1024),
        (n - 1, None),
        (n - 10, n + 100),
        (n, None),
        (10, 10),
    ]:
        assert await read_all(store, key, start=start, end=end) == data[start:end], (start, end)


async def test_size_exists_and_missing_keys(store: FileBlobStore) -> None:
    data = b"%PDF-1.7 not really\n"
    key = await store.commit(await stage_bytes(store, data))
    assert await store.exists(key)
    assert await store.size(key) == len(data)

    missing = sha(b"never stored")
    assert not await store.exists(missing)
    assert store.local_path(missing) is None
    with pytest.raises(BlobNotFound):
        await store.size(missing)
    with pytest.raises(BlobNotFound):
        await read_all(store, missing)
    for bad in ["", "../../etc/passwd", "A" * 64]:
        assert not await store.exists(bad)
        with pytest.raises(BlobNotFound):
            await read_all(store, bad)


async def test_stage_refuses_too_large_and_leaves_nothing(tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    with pytest.raises(BlobTooLarge) as caught:
        await stage(chunks_of(b"x" * 1001, size=100), staging_dir=staging, max_bytes=1000)
    assert caught.value.limit == 1000
    assert list(staging.iterdir()) == []

    exact = await stage(chunks_of(b"x" * 1000, size=100), staging_dir=staging, max_bytes=1000)
    assert exact.size == 1000
    exact.discard()
    assert list(staging.iterdir()) == []


async def test_stage_refuses_empty_and_leaves_nothing(tmp_path: Path) -> None:
    staging = tmp_path / "staging"

    async def nothing() -> AsyncIterator[bytes]:
        for chunk in (b"", b""):
            yield chunk

    with pytest.raises(EmptyBlob):
        await stage(nothing(), staging_dir=staging, max_bytes=1000)
    assert list(staging.iterdir()) == []


async def test_stage_leaves_nothing_when_the_source_fails(tmp_path: Path) -> None:
    staging = tmp_path / "staging"

    async def broken() -> AsyncIterator[bytes]:
        yield b"some bytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await stage(broken(), staging_dir=staging, max_bytes=1000)
    assert list(staging.iterdir()) == []


async def test_memory_does_not_grow_with_file_size(store: FileBlobStore) -> None:
    size = 30 * 1024 * 1024
    block = os.urandom(256 * 1024)

    async def upload() -> AsyncIterator[bytes]:
        for i in range(size // len(block)):
            yield i.to_bytes(4, "big") + block[4:]

    tracemalloc.start()
    try:
        staged = await stage(upload(), staging_dir=store.staging_dir, max_bytes=size)
        key = await store.commit(staged)
        digest = hashlib.sha256()
        async for chunk in store.read(key):
            digest.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert digest.hexdigest() == key
    assert await store.size(key) == size
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


async def test_check(store: FileBlobStore, tmp_path: Path) -> None:
    await store.check()
    assert store.root.is_dir()
    assert store.staging_dir.is_dir()
    assert files_under(store.staging_dir) == [], "the probe file is removed"

    blocked = tmp_path / "not-a-dir"
    blocked.write_bytes(b"")
    with pytest.raises(BlobStoreUnavailable, match="not writable"):
        await FileBlobStore(blocked).check()
