"""The ``BlobStore`` on an S3 bucket with Object Lock (MinIO, SeaweedFS, AWS...).

Every object is written once, under ``ab/cd/<sha256>`` like the file store, with a
COMPLIANCE retention of ``retention_days``: until then no one, root included, can delete
the version or shorten its retention. The bucket must have Object Lock enabled, which can
only be chosen when it is created (``ensure_bucket`` does so, and refuses a bucket without).

Every key is pinned to its *first* version. Object Lock implies versioning, so anyone with
write access can still PUT other bytes under an existing name (the locked original becomes
an older version) or delete it plainly (a delete marker on top). The key is the SHA-256 of
the content, so the oldest version that is not a delete marker is by definition the right
one: the store resolves it once per key (``list_objects(include_version=True)``), reads and
stats only that ``version_id``, and never uploads a key again while that version exists.
Resolved ids are cached in-process (bounded LRU): a locked version never changes and cannot
disappear within its retention, and every process resolves the same id on its own.

The ``minio`` client is synchronous: every call runs in a worker thread. Its errors
(``S3Error``, ``ServerError``, urllib3's connection errors) become ``storage.errors`` types.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import MinioException, S3Error
from minio.helpers import MIN_PART_SIZE, check_bucket_name
from minio.retention import Retention

from storage.blobs import CHUNK, StagedBlob
from storage.errors import BlobNotFound, BlobStoreUnavailable, StorageError

CONTENT_TYPE = "application/octet-stream"
PART_SIZE = MIN_PART_SIZE
"""Multipart part size: the most the client holds in memory for one upload (5 MiB)."""

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion"})
NO_LOCK = frozenset({"ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"})
"""The error codes S3 servers answer for a bucket without Object Lock."""
_HEX = frozenset("0123456789abcdef")
VERSION_CACHE_SIZE = 10_000
"""How many key -> pinned version id pairs a store keeps in memory."""


class S3BlobStore:
    """Content-addressed, write-once blobs in an Object Lock bucket."""

    def __init__(
        self, client: Minio, *, bucket: str, retention_days: int, staging_dir: Path
    ) -> None:
        check_bucket_name(bucket, strict=True)
        if retention_days < 1:
            raise ValueError(f"retention_days must be at least 1, not {retention_days}")
        self.client = client
        self.bucket = bucket
        self.retention_days = retention_days
        self.staging_dir = staging_dir
        self._versions: OrderedDict[str, str] = OrderedDict()
        self._versions_lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        access_key: str,
        secret_key: str,
        secure: bool,
        retention_days: int,
        staging_dir: Path,
    ) -> S3BlobStore:
        """A store for ``s3://host[:port]/bucket``, over HTTPS when ``secure``."""
        endpoint, bucket = parse_s3_url(url)
        if not access_key or not secret_key:
            raise ValueError("an S3 blob store needs an access key and a secret key")
        client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)
        return cls(client, bucket=bucket, retention_days=retention_days, staging_dir=staging_dir)

    # -- keys -------------------------------------------------------------------------------

    @staticmethod
    def object_name(key: str) -> str:
        """``ab/cd/<sha256>``; a key that is not a SHA-256 is not in the store."""
        if len(key) != 64 or not _HEX.issuperset(key):
            raise BlobNotFound(key)
        return f"{key[:2]}/{key[2:4]}/{key}"

    # -- bucket -----------------------------------------------------------------------------

    async def ensure_bucket(self) -> None:
        """Create the bucket with Object Lock if missing; refuse an existing one without."""
        await asyncio.to_thread(self._ensure_bucket)

    def _ensure_bucket(self) -> None:
        with self._errors(f"create bucket {self.bucket}"):
            if not self.client.bucket_exists(self.bucket):
                try:
                    self.client.make_bucket(self.bucket, object_lock=True)
                except S3Error as e:
                    # Another process created it in between: verify it like any other.
                    if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise
        with self._errors(f"read the Object Lock configuration of bucket {self.bucket}"):
            try:
                self.client.get_object_lock_config(self.bucket)
            except S3Error as e:
                if e.code in NO_LOCK:
                    raise self._no_lock() from e
                raise
            # minio's parser drops <ObjectLockEnabled>; a lock bucket is always versioned.
            if self.client.get_bucket_versioning(self.bucket).status != "Enabled":
                raise self._no_lock()

    def _no_lock(self) -> BlobStoreUnavailable:
        return BlobStoreUnavailable(
            f"S3 bucket {self.bucket} exists without Object Lock, so stored documents could be "
            "deleted from it; enable Object Lock on it, or name a new bucket (which is then "
            "created with Object Lock)"
        )

    # -- BlobStore --------------------------------------------------------------------------

    async def commit(self, staged: StagedBlob) -> str:
        """Upload the staged file once, locked in COMPLIANCE mode, then remove it.

        On failure the staged file is left for the caller to retry or discard.
        """
        name = self.object_name(staged.key)
        await asyncio.to_thread(self._commit, staged, name)
        return staged.key

    def _commit(self, staged: StagedBlob, name: str) -> None:
        if self._version(staged.key, name) is not None:
            # Stored once: even behind a delete marker or under a later overwrite.
            staged.discard()
            return
        retention = Retention(COMPLIANCE, datetime.now(UTC) + timedelta(days=self.retention_days))
        with staged.path.open("rb") as data, self._errors(f"store blob {staged.key}"):
            # Read part by part (PART_SIZE), one part at a time: memory stays bounded.
            written = self.client.put_object(
                self.bucket,
                name,
                data,
                staged.size,
                content_type=CONTENT_TYPE,
                part_size=PART_SIZE,
                num_parallel_uploads=1,
                retention=retention,
                legal_hold=False,
            )
        if written.version_id:
            self._remember(staged.key, written.version_id)
        staged.discard()

    async def exists(self, key: str) -> bool:
        try:
            name = self.object_name(key)
        except BlobNotFound:
            return False
        return await asyncio.to_thread(self._version, key, name) is not None

    async def size(self, key: str) -> int:
        name = self.object_name(key)
        return await asyncio.to_thread(self._stat, key, name)

    def _stat(self, key: str, name: str) -> int:
        """The size of the key's pinned version; ``BlobNotFound`` when there is none."""
        version_id = self._pinned(key, name)
        with self._forgetting(key), self._errors(f"look up blob {key}", key=key):
            stat = self.client.stat_object(self.bucket, name, version_id=version_id)
        if stat.size is None:
            raise BlobStoreUnavailable(f"S3 did not report the size of blob {key}")
        return stat.size

    async def read(
        self, key: str, *, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        if start < 0 or (end is not None and end < 0):
            raise ValueError(f"invalid range {start}-{end}")
        name = self.object_name(key)
        if end is not None and end <= start:
            # Nothing to read, but a missing blob is still an error.
            if not await self.exists(key):
                raise BlobNotFound(key)
            return
        length = 0 if end is None else end - start
        response = await asyncio.to_thread(self._open, key, name, start, length)
        if response is None:
            return
        try:
            while True:
                chunk = await asyncio.to_thread(self._read_chunk, key, response)
                if not chunk:
                    return
                yield chunk
        finally:
            response.close()
            response.release_conn()

    def _open(
        self, key: str, name: str, offset: int, length: int
    ) -> urllib3.BaseHTTPResponse | None:
        """The streaming response for the range; None when it starts past the end."""
        version_id = self._pinned(key, name)
        with self._forgetting(key), self._errors(f"read blob {key}", key=key):
            try:
                return self.client.get_object(
                    self.bucket, name, offset=offset, length=length, version_id=version_id
                )
            except S3Error as e:
                if e.code == "InvalidRange":
                    return None
                raise

    def _read_chunk(self, key: str, response: urllib3.BaseHTTPResponse) -> bytes:
        with self._errors(f"read blob {key}", key=key):
            return response.read(CHUNK)

    def local_path(self, key: str) -> Path | None:
        return None

    async def check(self) -> None:
        """Raise ``BlobStoreUnavailable`` unless the bucket answers."""
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        with self._errors(f"reach bucket {self.bucket}"):
            found = self.client.bucket_exists(self.bucket)
        if not found:
            raise BlobStoreUnavailable(f"S3 bucket {self.bucket} does not exist")

    # -- pinned versions --------------------------------------------------------------------

    def _pinned(self, key: str, name: str) -> str:
        """The key's pinned version id; ``BlobNotFound`` when there is none."""
        version_id = self._version(key, name)
        if version_id is None:
            raise BlobNotFound(key)
        return version_id

    def _version(self, key: str, name: str) -> str | None:
        """The id of the key's first version that is not a delete marker, None if none."""
        with self._versions_lock:
            version_id = self._versions.get(key)
            if version_id is not None:
                self._versions.move_to_end(key)
                return version_id
        version_id = self._oldest_version(key, name)
        if version_id is not None:
            self._remember(key, version_id)
        return version_id

    def _oldest_version(self, key: str, name: str) -> str | None:
        """Ask S3 for the oldest version of ``name`` that is not a delete marker.

        ``LastModified`` may only count seconds (SeaweedFS), so versions written within the
        same second tie; S3 lists each key's versions newest first, so the later one in the
        listing is the older.
        """
        oldest: tuple[datetime, int, str] | None = None
        with self._errors(f"list the versions of blob {key}"):
            listing = self.client.list_objects(self.bucket, prefix=name, include_version=True)
            for position, obj in enumerate(listing):
                if obj.object_name != name or obj.is_delete_marker or not obj.version_id:
                    continue
                if obj.last_modified is None:
                    raise BlobStoreUnavailable(
                        f"S3 did not report the date of version {obj.version_id} of blob {key}"
                    )
                candidate = (obj.last_modified, -position, obj.version_id)
                if oldest is None or candidate[:2] < oldest[:2]:
                    oldest = candidate
        return None if oldest is None else oldest[2]

    def _remember(self, key: str, version_id: str) -> None:
        with self._versions_lock:
            self._versions[key] = version_id
            self._versions.move_to_end(key)
            while len(self._versions) > VERSION_CACHE_SIZE:
                self._versions.popitem(last=False)

    @contextlib.contextmanager
    def _forgetting(self, key: str) -> Iterator[None]:
        """Drop the cached version when S3 says it is gone (retention over, then deleted)."""
        try:
            yield
        except BlobNotFound:
            with self._versions_lock:
                self._versions.pop(key, None)
            raise

    # -- errors -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, *, key: str | None = None) -> Iterator[None]:
        """Turn minio/urllib3 errors raised inside into ``storage.errors`` types."""
        try:
            yield
        except StorageError:
            raise
        except S3Error as e:
            if key is not None and e.code in _NOT_FOUND:
                raise BlobNotFound(key) from e
            _unavailable(f"S3 refused to {action}: {e.code}: {e.message}", e)
        except MinioException as e:  # ServerError (5xx), InvalidResponseError
            _unavailable(f"S3 failed to {action}: {e}", e)
        except (urllib3.exceptions.HTTPError, OSError) as e:
            _unavailable(f"could not reach S3 to {action}: {e}", e)


def _unavailable(message: str, cause: Exception) -> NoReturn:
    raise BlobStoreUnavailable(message) from cause


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://host[:port]/bucket`` as (``host[:port]``, ``bucket``); ``ValueError`` if not."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ValueError(f"S3 blob URL must start with s3://, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("S3 blob URL must not carry credentials; set the access keys instead")
    if not parts.hostname:
        raise ValueError(f"S3 blob URL has no host: {url!r} (expected s3://host:port/bucket)")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"S3 blob URL has an invalid port: {url!r}") from e
    if parts.query or parts.fragment:
        raise ValueError(f"S3 blob URL must not have a query or fragment: {url!r}")
    bucket = parts.path.strip("/")
    if not bucket:
        raise ValueError(f"S3 blob URL has no bucket: {url!r} (expected s3://host:port/bucket)")
    if "/" in bucket:
        raise ValueError(f"S3 blob URL must name only a bucket, not a path: {url!r}")
    try:
        check_bucket_name(bucket, strict=True)
    except ValueError as e:
        raise ValueError(f"S3 blob URL has an invalid bucket name {bucket!r}: {e}") from e
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return (host if port is None else f"{host}:{port}"), bucket
