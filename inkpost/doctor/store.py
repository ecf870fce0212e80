"""The checks of where Inkpost keeps things: the database and the blob store (a directory or
an S3 bucket with Object Lock). Both only read; nothing is created."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.error import MinioException, S3Error
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from inkpost.doctor.verdicts import Verdict, fail, first_line, ok
from inkpost.settings import Settings
from storage import migrate
from storage.blobs import FileBlobStore
from storage.db import READ_ONLY, make_engine
from storage.errors import BlobStoreUnavailable
from storage.s3 import NO_LOCK, parse_s3_url

# -- database -------------------------------------------------------------------------------


def describe_database_url(url: URL) -> str:
    """``sqlite at /path`` or ``postgresql at host:port/db``, without credentials."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite at {url.database or ':memory:'}"
    where = url.host or "localhost"
    if url.port:
        where += f":{url.port}"
    return f"{backend} at {where}/{url.database or ''}"


def cannot_connect(url: URL, error: BaseException) -> str:
    """What to say of a database at ``url`` that ``error`` kept us from reaching."""
    reason = first_line(getattr(error, "orig", None) or error)
    return (
        f"{describe_database_url(url)}: cannot connect ({reason}) — check "
        "INKPOST_DATABASE_URL and that the server is running"
    )


async def check_database(settings: Settings, seconds: float) -> Verdict:
    """Reachable, and its schema at the revision this code needs (nothing is created)."""
    url = make_url(settings.effective_database_url)
    where = describe_database_url(url)
    sqlite = url.get_backend_name() == "sqlite"
    on_disk = sqlite and url.database not in (None, "", ":memory:")
    if on_disk and not await asyncio.to_thread(Path(url.database or "").is_file):
        return fail(f"{where}: there is no database — run `inkpost init`")
    # Read only: on SQLite no write lock is taken, so a busy server never makes this wait.
    options: dict[str, Any] = {"execution_options": {READ_ONLY: True}}
    if not sqlite:
        options["connect_args"] = {"timeout": seconds, "command_timeout": seconds}
    engine = make_engine(url.render_as_string(hide_password=False), **options)
    try:
        current = await migrate.current_revision(engine)
    except (SQLAlchemyError, OSError) as e:
        return fail(cannot_connect(url, e))
    finally:
        await engine.dispose()
    head = migrate.head_revision()
    if current == head:
        return ok(f"{where}: reachable, schema at {head}")
    if current is None:
        return fail(f"{where}: reachable but empty (no schema) — run `inkpost init`")
    if current in _known_revisions():
        return fail(
            f"{where}: schema at {current}, this version needs {head} — run `inkpost db upgrade`"
        )
    return fail(
        f"{where}: schema at {current}, a revision this version of Inkpost does not know "
        "(was it migrated by a newer one?) — run the Inkpost that migrated it"
    )


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


# -- blob store -----------------------------------------------------------------------------


async def check_blobs(settings: Settings, seconds: float) -> Verdict:
    """The file store writable, or the S3 bucket locked against deletion."""
    url = settings.blob_url
    if not url:
        return await _check_file_store(settings.data_dir / "blobs")
    if url.startswith("file://"):
        return await _check_file_store(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        return await asyncio.to_thread(_check_s3, settings, seconds)
    return fail(f"INKPOST_BLOB_URL must start with file:// or s3://, not {url.split(':')[0]}:")


async def _check_file_store(root: Path) -> Verdict:
    where = f"file store at {await asyncio.to_thread(root.resolve)}"
    if not await asyncio.to_thread(root.exists):
        return fail(f"{where}: the directory does not exist — run `inkpost init`")
    if not await asyncio.to_thread(root.is_dir):
        return fail(f"{where}: not a directory — point INKPOST_BLOB_URL at a directory")
    store = FileBlobStore(root)
    try:
        await store.check()
    except BlobStoreUnavailable as e:
        return fail(f"{where}: {e} — give the user running Inkpost write access to it")
    free = (await asyncio.to_thread(shutil.disk_usage, root)).free
    return ok(
        f"{where}: writable (a probe file was written to {store.staging_dir.name} and removed), "
        f"{free / 1024**3:.1f} GB free"
    )


def _check_s3(settings: Settings, seconds: float) -> Verdict:
    """Bucket, Object Lock, versioning, and the retention of one stored object: read only,
    since an object written here could not be deleted for years."""
    assert settings.blob_url is not None
    try:
        endpoint, bucket = parse_s3_url(settings.blob_url)
    except ValueError as e:
        return fail(f"{e} — fix INKPOST_BLOB_URL")
    where = f"s3://{endpoint}/{bucket}"
    access = settings.s3_access_key.get_secret_value() if settings.s3_access_key else ""
    secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else ""
    if not access or not secret:
        return fail(f"{where}: set INKPOST_S3_ACCESS_KEY and INKPOST_S3_SECRET_KEY")
    pool = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=seconds, read=seconds), retries=urllib3.Retry(total=0)
    )
    client = Minio(
        endpoint, access_key=access, secret_key=secret, secure=settings.s3_secure, http_client=pool
    )
    try:
        return _inspect_bucket(client, bucket, where)
    except S3Error as e:
        return fail(
            f"{where}: S3 refused: {e.code}: {e.message} — check INKPOST_S3_ACCESS_KEY, "
            "INKPOST_S3_SECRET_KEY and the key's permissions on the bucket"
        )
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
        return fail(
            f"{where}: cannot reach S3 ({_connection_problem(e)}) — check the endpoint and "
            "INKPOST_S3_SECURE"
        )
    finally:
        pool.clear()


def _connection_problem(error: Exception) -> str:
    """urllib3's reason without its retry and pool wrapping."""
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return first_line(str(reason).split("): ", 1)[-1])
    return first_line(reason)


def _inspect_bucket(client: Minio, bucket: str, where: str) -> Verdict:
    if not client.bucket_exists(bucket):
        return fail(
            f"{where}: the bucket does not exist — run `inkpost init`, which creates it with "
            "Object Lock"
        )
    try:
        client.get_object_lock_config(bucket)
    except S3Error as e:
        if e.code not in NO_LOCK:
            raise
        return fail(
            f"{where}: Object Lock is off, so stored documents could be deleted — enable it on "
            "the bucket, or name a new bucket (`inkpost init` creates it with Object Lock)"
        )
    if client.get_bucket_versioning(bucket).status != "Enabled":
        return fail(f"{where}: versioning is off although Object Lock is on — enable versioning")
    checked = "bucket exists, Object Lock and versioning on"
    stored = next(iter(client.list_objects(bucket, recursive=True)), None)
    if stored is None or stored.object_name is None:
        return ok(
            f"{where}: {checked}; no document stored yet, so no retention to check "
            "(nothing written)"
        )
    name = stored.object_name
    # The store reads a key's first version (S3 lists versions newest first).
    versions = [
        v.version_id
        for v in client.list_objects(bucket, prefix=name, include_version=True)
        if v.object_name == name and not v.is_delete_marker
    ]
    retention = client.get_object_retention(
        bucket, name, version_id=versions[-1] if versions else None
    )
    if retention is None or retention.mode != COMPLIANCE:
        mode = retention.mode if retention is not None else "none"
        return fail(
            f"{where}: {checked}, but {name} has no COMPLIANCE retention (retention: {mode}), "
            "so it could be deleted — was it written by something else than Inkpost?"
        )
    until = retention.retain_until_date
    held = f"held in COMPLIANCE until {until:%Y-%m-%d}" if until else "held in COMPLIANCE"
    return ok(f"{where}: {checked}; {name} {held} (nothing written)")
