"""S3BlobStore against a real SeaweedFS S3 server (``weed mini``, see tests/fakes/seaweed.py)."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import S3Error
from minio.retention import Retention

from storage import s3
from storage.blobs import BlobStore, StagedBlob, stage
from storage.errors import BlobNotFound, BlobStoreUnavailable
from storage.s3 import PART_SIZE, S3BlobStore, parse_s3_url
from tests.fakes.seaweed import S3Server, http_pool

RETENTION_DAYS = 7
MAX_BYTES = 64 * 1024 * 1024


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def stage_bytes(store: S3BlobStore, data: bytes) -> StagedBlob:
    return await stage(chunks_of(data), staging_dir=store.staging_dir, max_bytes=MAX_BYTES)


async def read_all(store: S3BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start=start, end=end)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def minio(s3_server: S3Server) -> Iterator[Minio]:
    pool = http_pool()
    yield s3_server.client(pool)
    pool.clear()


@pytest.fixture
def bucket() -> str:
    return f"inkpost-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def store(minio: Minio, bucket: str, tmp_path: Path) -> S3BlobStore:
    blobs = S3BlobStore(
        minio, bucket=bucket, retention_days=RETENTION_DAYS, staging_dir=tmp_path / "staging"
    )
    await blobs.ensure_bucket()
    return blobs


def versions(minio: Minio, bucket: str, name: str) -> list[tuple[str | None, bool]]:
    """(version id, is delete marker) of every version of ``name``."""
    return [
        (obj.version_id, obj.is_delete_marker)
        for obj in minio.list_objects(bucket, prefix=name, include_version=True)
        if obj.object_name == name
    ]


# -- round trips ------------------------------------------------------------------------


async def test_commit_and_read_back(store: S3BlobStore, minio: Minio) -> None:
    assert isinstance(store, BlobStore)
    data = os.urandom(300 * 1024)  # more than one read chunk
    staged = await stage_bytes(store, data)

    key = await store.commit(staged)

    assert key == sha(data)
    assert not staged.path.exists(), "the staged file is removed once stored"
    assert await read_all(store, key) == data
    assert store.local_path(key) is None
    stat = minio.stat_object(store.bucket, f"{key[:2]}/{key[2:4]}/{key}")
    assert stat.size == len(data)
    assert stat.content_type == "application/octet-stream"


async def test_range_reads(store: S3BlobStore) -> None:
    data = os.urandom(600 * 1024)
    key = await store.commit(await stage_bytes(store, data))
    n = len(data)

    for start, end in [
        (0, 10),
        (5, None),
        (1000, 300 * 1024),
        (n - 1, None),
        (n - 10, n + 100),  # past the end: clamped
        (n, None),  # starts at the end: nothing
        (n + 5, None),  # starts past the end: nothing
        (10, 10),  # empty range
        (20, 10),  # inverted range
    ]:
        got = await read_all(store, key, start=start, end=end)
        assert got == data[start:end], (start, end)


async def test_same_bytes_are_stored_once(store: S3BlobStore, minio: Minio) -> None:
    data = b"the same document twice\n" * 100
    first = await stage_bytes(store, data)
    second = await stage_bytes(store, data)
    assert first.path != second.path

    assert await store.commit(first) == await store.commit(second) == sha(data)

    assert not second.path.exists(), "the duplicate's staged file is discarded"
    key = sha(data)
    assert len(versions(minio, store.bucket, store.object_name(key))) == 1
    assert await read_all(store, key) == data


async def test_size_exists_and_missing_keys(store: S3BlobStore) -> None:
    data = b"%PDF-1.7 not really\n"
    key = await store.commit(await stage_bytes(store, data))
    assert await store.exists(key)
    assert await store.size(key) == len(data)

    missing = sha(b"never stored")
    assert not await store.exists(missing)
    with pytest.raises(BlobNotFound) as caught:
        await store.size(missing)
    assert caught.value.key == missing
    with pytest.raises(BlobNotFound):
        await read_all(store, missing)
    with pytest.raises(BlobNotFound):
        await read_all(store, missing, start=3, end=3)

    for bad in ["", "../etc/passwd", "A" * 64, key[:-1]]:
        assert not await store.exists(bad)
        with pytest.raises(BlobNotFound):
            await store.size(bad)
        with pytest.raises(BlobNotFound):
            await read_all(store, bad)


# -- object lock ------------------------------------------------------------------------


async def test_object_carries_compliance_retention(store: S3BlobStore, minio: Minio) -> None:
    key = await store.commit(await stage_bytes(store, b"retained"))
    name = store.object_name(key)

    retention = minio.get_object_retention(store.bucket, name)

    assert retention is not None
    assert retention.mode == COMPLIANCE
    expected = datetime.now(UTC) + timedelta(days=RETENTION_DAYS)
    assert abs(retention.retain_until_date - expected) < timedelta(minutes=5)
    # No legal hold. (SeaweedFS answers GetObjectLegalHold with NoSuchObjectLegalHold when
    # none was ever set, which minio's is_object_legal_hold_enabled does not expect.)
    stat = minio.stat_object(store.bucket, name)
    assert stat.metadata is not None
    assert stat.metadata.get("x-amz-object-lock-legal-hold", "OFF") == "OFF"
    assert stat.metadata.get("x-amz-object-lock-mode") == COMPLIANCE


async def test_locked_object_cannot_be_deleted_or_overwritten(
    store: S3BlobStore, minio: Minio
) -> None:
    data = b"signed contract, version 1\n"
    key = await store.commit(await stage_bytes(store, data))
    name = store.object_name(key)
    original = minio.stat_object(store.bucket, name).version_id
    assert original

    # Deleting the version is refused.
    with pytest.raises(S3Error) as caught:
        minio.remove_object(store.bucket, name, version_id=original)
    assert caught.value.code == "AccessDenied"

    # Shortening or weakening the retention is refused.
    for weaker in (
        Retention(COMPLIANCE, datetime.now(UTC) + timedelta(days=1)),
        Retention("GOVERNANCE", datetime.now(UTC) + timedelta(days=RETENTION_DAYS + 1)),
    ):
        with pytest.raises(S3Error):
            minio.set_object_retention(store.bucket, name, weaker, version_id=original)

    # An overwrite only adds a version on top; the locked one is unchanged.
    forged = b"forged contract\n"
    written = minio.put_object(store.bucket, name, io.BytesIO(forged), len(forged))
    assert written.version_id not in (None, original)
    response = minio.get_object(store.bucket, name, version_id=original)
    try:
        assert response.read() == data
    finally:
        response.close()
        response.release_conn()
    with pytest.raises(S3Error):
        minio.remove_object(store.bucket, name, version_id=original)

    # A plain delete only adds a delete marker; the locked version is still there.
    minio.remove_object(store.bucket, name)
    remaining = versions(minio, store.bucket, name)
    assert (original, False) in remaining
    assert minio.stat_object(store.bucket, name, version_id=original).size == len(data)


def fresh(store: S3BlobStore) -> S3BlobStore:
    """Another store on the same bucket, with nothing cached (as in another process)."""
    return S3BlobStore(
        store.client,
        bucket=store.bucket,
        retention_days=store.retention_days,
        staging_dir=store.staging_dir,
    )


# -- pinned to the first version --------------------------------------------------------


async def test_overwrite_does_not_change_what_is_read(store: S3BlobStore, minio: Minio) -> None:
    data = b"signed contract, version 1\n" * 50
    key = await store.commit(await stage_bytes(store, data))
    name = store.object_name(key)
    for forged in (b"forged contract\n", b"forged again, and longer\n" * 100):
        minio.put_object(store.bucket, name, io.BytesIO(forged), len(forged))
    assert minio.stat_object(store.bucket, name).size != len(data), "the latest is forged"
    assert len(versions(minio, store.bucket, name)) == 3

    for blobs in (store, fresh(store)):
        assert await blobs.exists(key)
        assert await blobs.size(key) == len(data)
        assert await read_all(blobs, key) == data
        assert await read_all(blobs, key, start=10, end=30) == data[10:30]
        assert await read_all(blobs, key, start=len(data)) == b""


async def test_delete_marker_does_not_hide_the_blob(store: S3BlobStore, minio: Minio) -> None:
    data = b"still here\n"
    key = await store.commit(await stage_bytes(store, data))
    name = store.object_name(key)
    minio.remove_object(store.bucket, name)
    with pytest.raises(S3Error):
        minio.stat_object(store.bucket, name)  # the latest is a delete marker

    for blobs in (store, fresh(store)):
        assert await blobs.exists(key)
        assert await blobs.size(key) == len(data)
        assert await read_all(blobs, key) == data
        assert await read_all(blobs, key, start=3, end=3) == b""


async def test_commit_after_delete_marker_does_not_upload_again(
    store: S3BlobStore, minio: Minio
) -> None:
    data = b"stored once, deleted plainly, committed again\n"
    key = await store.commit(await stage_bytes(store, data))
    name = store.object_name(key)
    minio.remove_object(store.bucket, name)
    before = versions(minio, store.bucket, name)
    assert sorted(marker for _, marker in before) == [False, True]

    for blobs in (store, fresh(store)):
        staged = await stage_bytes(blobs, data)
        assert await blobs.commit(staged) == key
        assert not staged.path.exists(), "the duplicate's staged file is discarded"

    assert versions(minio, store.bucket, name) == before
    assert await read_all(fresh(store), key) == data


async def test_commit_after_overwrite_does_not_upload_again(
    store: S3BlobStore, minio: Minio
) -> None:
    data = b"the original\n"
    key = await store.commit(await stage_bytes(store, data))
    name = store.object_name(key)
    forged = b"the forgery\n"
    minio.put_object(store.bucket, name, io.BytesIO(forged), len(forged))

    await fresh(store).commit(await stage_bytes(store, data))

    assert len(versions(minio, store.bucket, name)) == 2
    assert await read_all(fresh(store), key) == data


async def test_only_versions_of_the_exact_name_count(store: S3BlobStore, minio: Minio) -> None:
    key = sha(b"never committed")
    name = store.object_name(key)
    minio.put_object(store.bucket, name + "x", io.BytesIO(b"other"), 5)  # shares the prefix

    assert not await store.exists(key)
    with pytest.raises(BlobNotFound):
        await store.size(key)
    with pytest.raises(BlobNotFound):
        await read_all(store, key)


async def test_pinned_versions_cache_is_bounded(
    store: S3BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "VERSION_CACHE_SIZE", 2)
    contents = [b"first", b"second", b"third"]
    keys = [await store.commit(await stage_bytes(store, data)) for data in contents]

    assert list(store._versions) == keys[1:], "the least recently used is dropped"
    for key, data in zip(keys, contents, strict=True):
        assert await read_all(store, key) == data  # resolved again when not cached
    assert len(store._versions) == 2


async def test_ensure_bucket_creates_a_lock_enabled_bucket(
    minio: Minio, bucket: str, tmp_path: Path
) -> None:
    blobs = S3BlobStore(minio, bucket=bucket, retention_days=1, staging_dir=tmp_path)
    assert not minio.bucket_exists(bucket)

    await blobs.ensure_bucket()
    await blobs.ensure_bucket()  # idempotent

    assert minio.bucket_exists(bucket)
    minio.get_object_lock_config(bucket)  # raises when the bucket has no object lock
    assert minio.get_bucket_versioning(bucket).status == "Enabled"
    await blobs.check()


async def test_ensure_bucket_refuses_a_bucket_without_object_lock(
    minio: Minio, bucket: str, tmp_path: Path
) -> None:
    minio.make_bucket(bucket)
    blobs = S3BlobStore(minio, bucket=bucket, retention_days=1, staging_dir=tmp_path)

    with pytest.raises(BlobStoreUnavailable, match="without Object Lock"):
        await blobs.ensure_bucket()


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/docs",
        "minio://127.0.0.1:9000/docs",
        "127.0.0.1:9000/docs",
        "s3://:9000/docs",
        "s3:///docs",
        "s3://127.0.0.1:9000",
        "s3://127.0.0.1:9000/",
        "s3://127.0.0.1:9000/docs/sub",
        "s3://127.0.0.1:notaport/docs",
        "s3://key:secret@127.0.0.1:9000/docs",
        "s3://127.0.0.1:9000/docs?region=x",
        "s3://127.0.0.1:9000/Bad_Bucket",
    ],
)
def test_from_url_rejects_malformed_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="S3 blob URL"):
        S3BlobStore.from_url(
            url,
            access_key="a",
            secret_key="b",
            secure=False,
            retention_days=1,
            staging_dir=tmp_path,
        )


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://127.0.0.1:9000/docs") == ("127.0.0.1:9000", "docs")
    assert parse_s3_url("s3://s3.example.com/inkpost-docs/") == ("s3.example.com", "inkpost-docs")
    assert parse_s3_url("s3://[::1]:9000/docs") == ("[::1]:9000", "docs")


def test_from_url_needs_keys_and_retention(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="access key"):
        S3BlobStore.from_url(
            "s3://127.0.0.1:9000/docs",
            access_key="",
            secret_key="",
            secure=False,
            retention_days=1,
            staging_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="retention_days"):
        S3BlobStore.from_url(
            "s3://127.0.0.1:9000/docs",
            access_key="a",
            secret_key="b",
            secure=False,
            retention_days=0,
            staging_dir=tmp_path,
        )


async def test_from_url_against_the_server(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    blobs = S3BlobStore.from_url(
        f"s3://{s3_server.endpoint}/{bucket}",
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        secure=False,
        retention_days=1,
        staging_dir=tmp_path,
    )
    try:
        await blobs.ensure_bucket()
        await blobs.check()
        data = b"through from_url"
        key = await blobs.commit(await stage_bytes(blobs, data))
        assert await read_all(blobs, key) == data
    finally:
        blobs.client._http.clear()


# -- failures ---------------------------------------------------------------------------


async def test_unreachable_server_is_unavailable(tmp_path: Path) -> None:
    pool = http_pool(retries=0, timeout=2.0)
    client = Minio(
        f"127.0.0.1:{closed_port()}",
        access_key="a",
        secret_key="b",
        secure=False,
        http_client=pool,
    )
    blobs = S3BlobStore(client, bucket="docs", retention_days=1, staging_dir=tmp_path)
    try:
        with pytest.raises(BlobStoreUnavailable, match="could not reach S3"):
            await blobs.check()
        with pytest.raises(BlobStoreUnavailable):
            await blobs.ensure_bucket()
        with pytest.raises(BlobStoreUnavailable):
            await blobs.exists(sha(b"x"))
        staged = await stage_bytes(blobs, b"kept for a retry")
        with pytest.raises(BlobStoreUnavailable):
            await blobs.commit(staged)
        assert staged.path.exists(), "a failed commit leaves the staged file to the caller"
        staged.discard()
    finally:
        pool.clear()


async def test_missing_bucket_is_unavailable(minio: Minio, bucket: str, tmp_path: Path) -> None:
    blobs = S3BlobStore(minio, bucket=bucket, retention_days=1, staging_dir=tmp_path)
    with pytest.raises(BlobStoreUnavailable, match="does not exist"):
        await blobs.check()
    with pytest.raises(BlobStoreUnavailable):
        await blobs.exists(sha(b"x"))


async def test_wrong_credentials_are_unavailable(
    s3_server: S3Server, store: S3BlobStore, tmp_path: Path
) -> None:
    pool = http_pool(retries=0)
    client = Minio(
        s3_server.endpoint,
        access_key="intruder",
        secret_key="wrong",
        secure=False,
        http_client=pool,
    )
    blobs = S3BlobStore(client, bucket=store.bucket, retention_days=1, staging_dir=tmp_path)
    try:
        with pytest.raises(BlobStoreUnavailable):
            await blobs.check()
    finally:
        pool.clear()


# -- memory -----------------------------------------------------------------------------


async def test_large_upload_streams_without_growing_memory(store: S3BlobStore) -> None:
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
        read = 0
        async for chunk in store.read(key):
            digest.update(chunk)
            read += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert staged.size == read == size
    assert digest.hexdigest() == key
    # minio holds at most two parts of PART_SIZE (5 MiB) while uploading, whatever the size.
    assert peak < 2 * PART_SIZE + 2 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    assert peak < size / 2
    assert not staged.path.exists()


async def test_abandoned_read_releases_the_response(store: S3BlobStore) -> None:
    data = os.urandom(600 * 1024)
    key = await store.commit(await stage_bytes(store, data))
    for _ in range(12):  # more than the pool's connections, were any leaked
        reader = store.read(key)
        first = await anext(reader)
        assert data.startswith(first)
        await reader.aclose()
    assert await read_all(store, key) == data
