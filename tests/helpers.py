"""Small helpers the tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from inkpost.sample_pdf import make_pdf
from storage.models import Document
from workflows.context import Actor, Env
from workflows.documents import filing

STAFF = Actor.system("tests")


async def chunks(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload(
    env: Env, *, org_id: int, client_id: int, data: bytes | None = None, **meta: object
) -> Document:
    fields: dict[str, object] = {
        "title": "Fee table 2027",
        "category": "fee table",
        "client_id": client_id,
        "filename": "fee-table-2027.pdf",
    }
    fields.update(meta)
    return await filing.upload_document(
        env,
        org_id=org_id,
        actor=STAFF,
        meta=filing.NewDocument(**fields),  # type: ignore[arg-type]
        content=chunks(data if data is not None else make_pdf("Fee table 2027", pages=3)),
    )


def blob_files(root: Path) -> list[Path]:
    """Every stored blob and leftover staging file under a file store's root."""
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file())
