"""Builds the running parts from settings: engine, blob store, workflow environment."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from inkpost.settings import Settings
from storage import migrate
from storage.blobs import BlobStore, FileBlobStore
from storage.db import make_engine, make_session_factory
from workflows.context import Env, Limits


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    engine: AsyncEngine
    env: Env


def make_blob_store(settings: Settings) -> BlobStore:
    url = settings.blob_url
    if not url:
        return FileBlobStore(settings.data_dir / "blobs")
    if url.startswith("file://"):
        return FileBlobStore(Path(url.removeprefix("file://")))
    if url.startswith("s3://"):
        from storage.s3 import S3BlobStore  # the S3 client, only for a store that uses it

        return S3BlobStore.from_url(
            url,
            access_key=_secret(settings.s3_access_key),
            secret_key=_secret(settings.s3_secret_key),
            secure=settings.s3_secure,
            retention_days=settings.retention_days,
            staging_dir=settings.data_dir / "staging",
        )
    raise ValueError(
        f"INKPOST_BLOB_URL must start with file:// or s3://, not '{url.split(':')[0]}:'"
    )


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def reach_of(settings: Settings) -> frozenset[str]:
    """The channels recipients' notices go out through: Telegram with a bot token, email
    with a mail server."""
    configured = {"telegram": settings.telegram_token, "email": settings.smtp_url}
    return frozenset(channel for channel, setting in configured.items() if setting is not None)


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, *, upgrade: bool = True) -> AsyncIterator[Runtime]:
    """The engine and stores for one process; migrations applied when ``upgrade``."""
    engine = make_engine(settings.effective_database_url)
    try:
        if upgrade:
            await migrate.upgrade(engine)
        blobs = make_blob_store(settings)
        ensure = getattr(blobs, "ensure_bucket", None)
        if ensure is not None:
            await ensure()
        env = Env(
            sessions=make_session_factory(engine),
            blobs=blobs,
            limits=Limits(max_upload_bytes=settings.max_upload_bytes),
            reach=reach_of(settings),
        )
        yield Runtime(settings=settings, engine=engine, env=env)
    finally:
        await engine.dispose()
