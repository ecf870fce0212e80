"""A history bundle that a third party verifies without Inkpost (docs/audit-export.md).

One zip file: the organisation's events in chain order, one JSON line each with its
hashes; every checkpoint as sealed (the statement's exact bytes, its detached CMS
signature, its RFC 3161 token when there is one); the certificates the signatures and
tokens carry; and a manifest listing it all. Nothing in it needs to be taken on trust:
the chain rule, ``openssl cms -verify`` and ``openssl ts -verify`` check every part.

The bundle is written beside ``out`` under a temporary name and renamed when complete, so
a failure leaves no half-written bundle behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from storage.errors import BlobNotFound, StorageError
from storage.models import AuditEvent, AuditHead, Organization
from workflows import audit, checkpoints
from workflows.context import Env
from workflows.errors import NotFound, Unavailable

FORMAT = "inkpost-audit-export/1"
EVENTS = "events.jsonl"
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
SEAL_CERTIFICATES = "certificates/seal.pem"
TSA_CERTIFICATES = "certificates/tsa.pem"
README = """\
Inkpost audit export: the history of one organisation, for anyone to verify.

  manifest.json          what is in this bundle
  SHA256SUMS             the files' SHA-256, for `sha256sum -c SHA256SUMS`
  events.jsonl           every event in chain order, one JSON object a line:
                         {"event": {...}, "hash": ..., "prev_hash": ..., "seq": ...}
                         hash = SHA-256(prev_hash as ASCII hex || canonical JSON of event)
  checkpoints/NNNNNN.*   the chain head as sealed on the durable medium:
                         .json the statement (exact bytes), .p7s its detached CMS
                         signature (DER), .tst its RFC 3161 timestamp token (DER)
  certificates/          the seal's and the timestamp authority's certificates

The procedure, step by step with openssl and python3, is Inkpost's docs/audit-export.md.
"""


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    events: int
    checkpoints: int
    timestamped: int
    anchored: int | None
    """The event the last checkpoint covers."""


def checkpoint_name(number: int, suffix: str) -> str:
    return f"checkpoints/{number:06d}.{suffix}"


async def export_history(env: Env, *, org_id: int, out: Path) -> ExportSummary:
    """Write the organisation's bundle to ``out`` (a new file)."""
    env.require_every_client(to="export the whole history")
    async with env.reads() as session:
        organization = await session.get(Organization, org_id)
        head = await session.get(AuditHead, org_id)
    if organization is None or head is None:
        raise NotFound(f"organisation {org_id} has no history")
    stored = []
    for row in await checkpoints.list_checkpoints(env, org_id=org_id):
        try:
            stored.append(await checkpoints.read_checkpoint(env, row))
        except BlobNotFound as e:
            raise NotFound(
                f"checkpoint {row.number} is missing from the medium ({e}); "
                "`inkpost audit verify` says more"
            ) from e
        except StorageError as e:
            raise Unavailable(f"the medium could not be read: {e}") from e
    part = out.with_name(f".{out.name}.part")
    archive = await asyncio.to_thread(zipfile.ZipFile, part, "w", zipfile.ZIP_DEFLATED)
    try:
        with archive:
            files: dict[str, str] = {}
            events = await _write_events(env, archive, org_id=org_id, files=files)
            listed = [
                await _write_checkpoint(archive, checkpoint, files=files) for checkpoint in stored
            ]
            seal, tsa = _certificates(stored)
            for name, certificates in ((SEAL_CERTIFICATES, seal), (TSA_CERTIFICATES, tsa)):
                if certificates:
                    await _write(archive, name, _pem(certificates), files=files)
            manifest = {
                "format": FORMAT,
                "organisation": {
                    "id": org_id,
                    "slug": organization.slug,
                    "name": organization.name,
                },
                "exported_at": env.clock.now().isoformat(timespec="seconds"),
                "chain": {
                    "events": events,
                    "genesis": audit.GENESIS,
                    "head": {"seq": head.seq, "hash": head.hash},
                },
                "checkpoints": listed,
                "certificates": {
                    "seal": SEAL_CERTIFICATES if seal else None,
                    "tsa": TSA_CERTIFICATES if tsa else None,
                },
            }
            await _write(archive, "README.txt", README.encode(), files=files)
            await _write(archive, MANIFEST, audit.canonical_json(manifest) + b"\n", files=files)
            sums = "".join(f"{digest}  {name}\n" for name, digest in files.items())
            await _write(archive, CHECKSUMS, sums.encode(), files=None)
        await asyncio.to_thread(part.replace, out)
    except BaseException:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(part.unlink)
        raise
    return ExportSummary(
        path=out,
        events=events,
        checkpoints=len(stored),
        timestamped=sum(1 for s in stored if s.timestamp is not None),
        anchored=stored[-1].row.seq if stored else None,
    )


async def _write_events(
    env: Env, archive: zipfile.ZipFile, *, org_id: int, files: dict[str, str]
) -> int:
    """Stream the events into the archive, a batch at a time; returns how many."""
    digest = hashlib.sha256()
    count = 0
    handle: IO[bytes] = await asyncio.to_thread(archive.open, EVENTS, "w", force_zip64=True)
    with handle:
        async for batch in audit.chain_in_batches(env, org_id=org_id):
            data = b"".join(_event_line(event) for event in batch)
            digest.update(data)
            count += len(batch)
            await asyncio.to_thread(handle.write, data)
    files[EVENTS] = digest.hexdigest()
    return count


def _event_line(event: AuditEvent) -> bytes:
    line = {
        "seq": event.seq,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "event": audit.event_body(event),
    }
    return audit.canonical_json(line) + b"\n"


async def _write_checkpoint(
    archive: zipfile.ZipFile, stored: checkpoints.StoredCheckpoint, *, files: dict[str, str]
) -> dict[str, Any]:
    row = stored.row
    entry: dict[str, Any] = {
        "number": row.number,
        "seq": row.seq,
        "hash": row.hash,
        "at": row.at.isoformat(timespec="microseconds"),
        "statement": checkpoint_name(row.number, "json"),
        "signature": checkpoint_name(row.number, "p7s"),
        "timestamp": None,
    }
    await _write(archive, entry["statement"], stored.statement, files=files)
    await _write(archive, entry["signature"], stored.signature, files=files)
    if stored.timestamp is not None:
        entry["timestamp"] = checkpoint_name(row.number, "tst")
        await _write(archive, entry["timestamp"], stored.timestamp, files=files)
    return entry


async def _write(
    archive: zipfile.ZipFile, name: str, data: bytes, *, files: dict[str, str] | None
) -> None:
    await asyncio.to_thread(archive.writestr, name, data)
    if files is not None:
        files[name] = hashlib.sha256(data).hexdigest()


def _certificates(
    stored: list[checkpoints.StoredCheckpoint],
) -> tuple[list[asn1_x509.Certificate], list[asn1_x509.Certificate]]:
    """The certificates the seal signatures carry, and those the timestamp tokens carry,
    each once, in the order first met."""
    seal: dict[bytes, asn1_x509.Certificate] = {}
    tsa: dict[bytes, asn1_x509.Certificate] = {}
    for checkpoint in stored:
        for cert in checkpoints.certificates_of(checkpoint.signature):
            seal.setdefault(cert.dump(), cert)
        if checkpoint.timestamp is not None:
            for cert in checkpoints.certificates_of(checkpoint.timestamp):
                tsa.setdefault(cert.dump(), cert)
    return list(seal.values()), list(tsa.values())


def _pem(certificates: list[asn1_x509.Certificate]) -> bytes:
    return b"".join(pem.armor("CERTIFICATE", cert.dump()) for cert in certificates)
