"""Checking a history against its checkpoints (`workflows.checkpoints`).

The chain is walked first (`audit.verify_chain`: every event links to the one before).
Then each checkpoint, in order, is read from the medium and must hold: its seal signature
over the statement's exact bytes, by the installation's seal; its timestamp token, when it
has one, over the same bytes; its statement naming this organisation, its own number and
the statement before it; and the chain must have the statement's hash at the statement's
event. Last, the slot of the next checkpoint must not be on the medium. The first thing
that does not hold is named: for the chain, the event number with the hash expected and
the hash found.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.generic_cms import (
    async_validate_detached_cms,
    validate_tst_signed_data,
)
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko_certvalidator import ValidationContext

from storage.errors import BlobNotFound, StorageError
from storage.models import AuditCheckpoint, Organization
from storage.rows import id_of
from workflows import audit
from workflows.checkpoints import (
    Statement,
    StoredCheckpoint,
    certificates_of,
    list_checkpoints,
    read_checkpoint,
    slot_key,
)
from workflows.context import Env
from workflows.errors import NotFound, Unavailable


async def verify_history(
    env: Env, *, org_id: int, trusted: Sequence[asn1_x509.Certificate]
) -> audit.ChainReport:
    """Walk the chain (`audit.verify_chain`), then check it against every checkpoint: each
    read from the medium and its seal checked against ``trusted`` (the installation's
    seal), its timestamp against the statement, and its event number and hash against the
    chain. Names the first thing that does not hold."""
    report = await audit.verify_chain(env, org_id=org_id)
    if not report.ok:
        return report
    async with env.reads() as session:
        organization = await session.get(Organization, org_id)
        if organization is None:
            raise NotFound(f"organisation {org_id} not found")
    rows = await list_checkpoints(env, org_id=org_id)
    checker = _Checker(env, organization, report.events, tuple(trusted))
    for number, row in enumerate(rows, start=1):
        broken = await checker.check(number, row)
        if broken is not None:
            return broken
    if await _exists(env, org_id=org_id, org_slug=organization.slug, number=len(rows) + 1):
        return checker.broken(
            f"checkpoint {len(rows) + 1} was written to the medium but is not in the "
            "database: checkpoints were deleted from it"
        )
    return audit.ChainReport(
        org_id,
        report.events,
        True,
        checkpoints=len(rows),
        anchored=checker.anchored,
    )


async def _exists(env: Env, *, org_id: int, org_slug: str, number: int) -> bool:
    try:
        return await env.blobs.exists(slot_key(org_id=org_id, org_slug=org_slug, number=number))
    except StorageError as e:
        raise Unavailable(f"the medium could not be read: {e}") from e


@dataclass
class _Checker:
    """Checks checkpoints in order, remembering how far the chain was found to agree."""

    env: Env
    organization: Organization
    events: int
    trusted: tuple[asn1_x509.Certificate, ...]
    checked: int = 0
    anchored: int | None = None
    previous_key: str | None = None

    def broken(
        self,
        problem: str,
        *,
        seq: int | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> audit.ChainReport:
        return audit.ChainReport(
            id_of(self.organization),
            self.events,
            False,
            seq,
            problem,
            checkpoints=self.checked,
            anchored=self.anchored,
            expected=expected,
            found=found,
        )

    async def check(self, number: int, row: AuditCheckpoint) -> audit.ChainReport | None:
        if row.number != number:
            return self.broken(f"checkpoint {number} is missing from the database")
        try:
            stored = await read_checkpoint(self.env, row)
        except BlobNotFound as e:
            return self.broken(f"checkpoint {number} is missing from the medium ({e})")
        except StorageError as e:
            raise Unavailable(f"the medium could not be read: {e}") from e
        problem = await _seal_problem(stored, self.trusted)
        if problem is None:
            problem = await _timestamp_problem(stored)
        if problem is not None:
            return self.broken(f"checkpoint {number} {problem}")
        try:
            statement = Statement.decode(stored.statement)
        except ValueError as e:
            return self.broken(f"checkpoint {number} cannot be read: {e}")
        problem = self._mismatch(number, row, statement)
        if problem is not None:
            return self.broken(f"checkpoint {number} {problem}")
        broken = await self._against_chain(number, statement)
        if broken is not None:
            return broken
        self.checked, self.anchored = number, statement.seq
        self.previous_key = row.statement_key
        return None

    def _mismatch(self, number: int, row: AuditCheckpoint, statement: Statement) -> str | None:
        organization = self.organization
        if (statement.org_id, statement.org_slug) != (organization.id, organization.slug):
            return f"belongs to organisation '{statement.org_slug}' ({statement.org_id})"
        if statement.number != number:
            return f"says it is checkpoint {statement.number}"
        if statement.previous != self.previous_key:
            return f"does not follow checkpoint {number - 1}: one was replaced or removed"
        if (statement.seq, statement.hash) != (row.seq, row.hash):
            return (
                f"is recorded in the database as covering event {row.seq} ({row.hash}), but "
                f"its sealed statement covers event {statement.seq} ({statement.hash})"
            )
        return None

    async def _against_chain(self, number: int, statement: Statement) -> audit.ChainReport | None:
        written = f"checkpoint {number} of {statement.at:%Y-%m-%d %H:%M:%S} UTC"
        since = "" if self.anchored is None else f", after event {self.anchored}"
        if statement.seq > self.events:
            return self.broken(
                f"the chain ends at event {self.events}, but {written} covers event "
                f"{statement.seq}: expected hash {statement.hash} at event {statement.seq}, "
                "found no such event; events were cut off the end",
                seq=self.events + 1,
                expected=statement.hash,
            )
        async with self.env.reads() as session:
            found = await audit.hash_at(session, org_id=statement.org_id, seq=statement.seq)
        if found != statement.hash:
            return self.broken(
                f"the chain differs from {written} at event {statement.seq} or before"
                f"{since}: expected hash {statement.hash}, found {found}",
                seq=statement.seq,
                expected=statement.hash,
                found=found,
            )
        return None


async def _seal_problem(
    stored: StoredCheckpoint, trusted: tuple[asn1_x509.Certificate, ...]
) -> str | None:
    """Why the statement's seal does not hold; None when it does."""
    if not trusted:
        return "cannot be checked: no seal certificate to check it against"
    context = ValidationContext(
        trust_roots=list(trusted), allow_fetching=False, moment=stored.row.at
    )
    try:
        signed = cms.ContentInfo.load(stored.signature)["content"]
        status = await async_validate_detached_cms(
            stored.statement,
            signed,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(key_usage={"digital_signature"}),
        )
    except (ValueError, KeyError, TypeError) as e:
        return f"has a seal signature that cannot be read ({e})"
    if not (status.intact and status.valid):
        return "does not match its seal signature: it was altered on the medium"
    if not status.trusted:
        subject = status.signing_cert.subject.native if status.signing_cert else {}
        name = subject.get("common_name", "?")
        return f"is sealed by '{name}', a seal this installation does not vouch for"
    return None


async def _timestamp_problem(stored: StoredCheckpoint) -> str | None:
    """Why the statement's timestamp token does not hold; None when it does (or there is
    none). Whether to trust the authority is the verifier's call (docs/audit-export.md);
    this checks that the token is intact and is over these bytes."""
    if stored.timestamp is None:
        return None
    try:
        signed = cms.ContentInfo.load(stored.timestamp)["content"]
        context = ValidationContext(
            trust_roots=certificates_of(stored.timestamp), allow_fetching=False
        )
        status = await validate_tst_signed_data(
            signed,
            context,
            expected_tst_imprint=lambda algorithm: hashlib.new(
                algorithm, stored.statement
            ).digest(),
        )
    except (ValueError, KeyError, TypeError) as e:
        return f"has a timestamp that cannot be read ({e})"
    if not (status["intact"] and status["valid"]):
        return "does not match its timestamp: it was altered on the medium"
    return None
