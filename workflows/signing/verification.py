"""Checking an uploaded PDF against this installation's seal and its completed requests.

Anyone may upload a file to ``/verify``, without signing in, so a verdict only ever
repeats what the uploaded file already says about itself. A sealed PDF carries, in the
revision of its first seal signature, the completion certificate: the request's
reference and title, the organisation, the documents, and every deciding party's name,
role, decision time and how they were identified. A request is therefore named only when
the upload contains, byte for byte, a revision of one of its sealed PDFs that holds that
certificate; the verdict then shows the request, the document and the deciding parties
with their decisions, times, authentication levels and on-behalf names, and nothing
else: no other document of the request, no viewers, no email addresses, phone numbers,
IP addresses or user agents, no message, no audit data. An unsealed file, or one whose
certificate revision matches nothing, learns nothing about any request, even when its
first part is a document of this installation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from asn1crypto import x509 as asn1_x509
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Document, Organization, RequestDocument, SignatureRequest
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.signing import requests
from workflows.signing.completion import AUTH_LEVELS
from workflows.signing.seal import SignatureCheck, VerifyReport, verify_pdf
from workflows.signing.seal_keys import SealKey

LOG = logging.getLogger(__name__)

VerdictState = Literal[
    "sealed_and_matching",
    "intact_but_unknown",
    "modified",
    "not_sealed",
    "not_ours",
    "not_a_pdf",
]
MAX_ORIGINAL_CANDIDATES = 5
"""Completed requests of one original document whose sealed PDFs are read to find the
one an edited upload was made from; a document is rarely sent for signature more often."""

_REASON = re.compile(
    r"^(?P<name>.+), (?P<role>signer|approver), (?P<decision>signed|approved) on "
    r"(?P<when>[^;]+); identified by (?P<auth>.+?)(?:; on behalf of (?P<behalf>.+))?$",
    re.DOTALL,
)
_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")
NOT_THE_ISSUED_COPY = (
    "It is not the sealed copy this installation issued: only its first part is the same."
)


@dataclass(frozen=True)
class SignatureLine:
    """One signature of the upload, with what its reason says when it is one of ours in
    the form the seal writes (who, role, decision, when, identified how)."""

    check: SignatureCheck
    ours: bool
    """Made with a certificate this installation trusts, over content still intact."""
    role: str | None = None
    decision: str | None = None
    decided: str | None = None
    """The decision time as the reason prints it (UTC)."""
    auth_level: str | None = None
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class DecisionLine:
    """A party's favourable decision, as the completion certificate records it."""

    name: str
    """Who decided (a colleague, when deciding for the addressee)."""
    role: str
    decision: str
    decided_at: dt.datetime
    auth_level: str
    on_behalf_of: str | None = None


@dataclass(frozen=True)
class SealedMatch:
    """The completed request a sealed PDF belongs to."""

    organisation: str
    request_ref: str
    request_title: str
    document_title: str
    completed_at: dt.datetime | None
    decisions: tuple[DecisionLine, ...]
    exact: bool
    """The upload is byte for byte the sealed PDF stored when the request completed."""


@dataclass(frozen=True)
class Verdict:
    state: VerdictState
    sha256: str
    size: int
    signatures: tuple[SignatureLine, ...] = ()
    match: SealedMatch | None = None
    findings: tuple[str, ...] = ()
    """Why the seal does not hold, one short sentence each (for ``modified``)."""


async def check_sealed(
    env: Env, pdf: bytes, *, trusted: SealKey | Sequence[asn1_x509.Certificate]
) -> Verdict:
    """Whether ``pdf``'s seal is intact and made by a certificate in ``trusted``, and
    which completed request it belongs to (see the module's note on what is revealed)."""
    digest, size = hashlib.sha256(pdf).hexdigest(), len(pdf)
    try:
        report = await asyncio.to_thread(verify_pdf, pdf, trusted=trusted)
    except InvalidInput as error:
        if "not a readable PDF" in str(error):
            return Verdict("not_a_pdf", digest, size)
        return Verdict("modified", digest, size, findings=(_sentence(str(error)),))
    except Exception as error:
        # pyHanko can fail in many ways on a hostile or broken file; each means the same
        # to the visitor: this is not a PDF that can be checked.
        LOG.info("an uploaded file could not be checked: %s: %s", type(error).__name__, error)
        return Verdict("not_a_pdf", digest, size)
    if not report.signatures:
        return Verdict("not_sealed", digest, size)
    lines = tuple(_line(check) for check in report.signatures)
    state, findings = _judge(lines)
    match = await _find_match(env, pdf, report, digest)
    if state == "sealed_and_matching" and match is None:
        state = "intact_but_unknown"
    elif state == "sealed_and_matching" and match is not None and not match.exact:
        state, findings = "modified", (NOT_THE_ISSUED_COPY,)
    return Verdict(state, digest, size, lines, match, findings)


def _line(check: SignatureCheck) -> SignatureLine:
    ours = check.kind == "signature" and check.trusted and check.intact and check.valid
    parsed = _REASON.match(check.reason or "") if ours else None
    if parsed is None:
        return SignatureLine(check=check, ours=ours)
    return SignatureLine(
        check=check,
        ours=ours,
        role=parsed["role"],
        decision=parsed["decision"],
        decided=parsed["when"].strip(),
        auth_level=parsed["auth"].strip(),
        on_behalf_of=parsed["behalf"],
    )


def _judge(lines: tuple[SignatureLine, ...]) -> tuple[VerdictState, tuple[str, ...]]:
    """The state the signatures alone support: a broken signature, or anything added
    after the last of ours other than a timestamp, is a modification; signatures only by
    others are not ours. ``sealed_and_matching`` here means only "the seal holds"."""
    broken = [line for line in lines if not (line.check.intact and line.check.valid)]
    if broken:
        return "modified", tuple(_broken(line) for line in broken)
    ours = [index for index, line in enumerate(lines) if line.ours]
    if not ours:
        return "not_ours", ()
    findings = [
        f"It was signed afterwards by {line.check.signer or 'someone'}, "
        "whose certificate this installation does not trust."
        for line in lines[ours[-1] + 1 :]
        if line.check.kind == "signature"
    ]
    if not lines[-1].check.covers_whole_file:
        findings.append(
            "Content was added after the last signature: the seal covers only the earlier part."
        )
    return ("modified", tuple(findings)) if findings else ("sealed_and_matching", ())


def _broken(line: SignatureLine) -> str:
    if line.check.kind == "timestamp":
        return f"The timestamp by {line.check.signer or 'a timestamp authority'} is broken."
    who = line.check.name or line.check.signer or line.check.field
    return f"The signature for {who} is broken: what it covers was changed after signing."


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


# Finding the request ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    sealed: Document
    original: Document
    request: SignatureRequest


async def _find_match(
    env: Env, pdf: bytes, report: VerifyReport, digest: str
) -> SealedMatch | None:
    """The completed request one of whose sealed PDFs the upload contains, at least up to
    the revision holding the completion certificate."""
    revisions = set(report.revision_sha256) | {digest}
    async with env.reads() as session:
        found = await _sealed_within(session, revisions, report.revision_sha256, digest)
        if found is None and report.revision_sha256:
            for candidate in await _sealed_from_original(session, report.revision_sha256[0]):
                sealed_revisions = await _revisions_of(env, candidate.sealed)
                if revisions & set(sealed_revisions[1:]):
                    found = candidate
                    break
        if found is None:
            return None
        return await _match(session, found, exact=found.sealed.sha256 == digest)


async def _sealed_within(
    session: AsyncSession, revisions: set[str], order: Sequence[str], digest: str
) -> _Candidate | None:
    """A sealed PDF that is the upload, or one of its revisions (the latest wins)."""
    original = aliased(Document)
    rows = await session.exec(
        select(Document, original, SignatureRequest)
        .join(RequestDocument, col(RequestDocument.sealed_document_id) == Document.id)
        .join(original, col(original.id) == RequestDocument.document_id)
        .join(SignatureRequest, col(SignatureRequest.id) == RequestDocument.request_id)
        .where(
            col(Document.sha256).in_(revisions),
            Document.org_id == RequestDocument.org_id,
            SignatureRequest.org_id == RequestDocument.org_id,
            SignatureRequest.status == requests.COMPLETED,
        )
    )
    ranked = [*order, digest]
    candidates = [_Candidate(sealed, orig, request) for sealed, orig, request in rows.all()]
    if not candidates:
        return None
    return max(candidates, key=lambda c: ranked.index(c.sealed.sha256))


async def _sealed_from_original(session: AsyncSession, first_revision: str) -> list[_Candidate]:
    """Sealed PDFs of completed requests whose original is the upload's first revision."""
    sealed = aliased(Document)
    rows = await session.exec(
        select(sealed, Document, SignatureRequest)
        .join(RequestDocument, col(RequestDocument.document_id) == Document.id)
        .join(sealed, col(sealed.id) == RequestDocument.sealed_document_id)
        .join(SignatureRequest, col(SignatureRequest.id) == RequestDocument.request_id)
        .where(
            Document.sha256 == first_revision,
            Document.org_id == RequestDocument.org_id,
            SignatureRequest.org_id == RequestDocument.org_id,
            SignatureRequest.status == requests.COMPLETED,
        )
        .order_by(col(SignatureRequest.id).desc())
        .limit(MAX_ORIGINAL_CANDIDATES)
    )
    return [_Candidate(s, orig, request) for s, orig, request in rows.all()]


async def _revisions_of(env: Env, document: Document) -> list[str]:
    """SHA-256 of a stored PDF at the end of each revision, as ``verify_pdf`` counts them."""
    data = b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])
    return [hashlib.sha256(data[: m.end()]).hexdigest() for m in _EOF.finditer(data)]


async def _match(session: AsyncSession, found: _Candidate, *, exact: bool) -> SealedMatch:
    request = found.request
    organization = await session.get(Organization, request.org_id)
    assert organization is not None
    state = await requests.load_state(session, request)
    decided = []
    for party in state.parties:
        decision = state.decision_of(party)
        if decision is None or decision.decision not in ("signed", "approved"):
            continue
        colleague = decision.decided_by_recipient_id
        on_behalf = colleague is not None and colleague != party.recipient_id
        line = DecisionLine(
            name=decision.decided_by_name,
            role="signer" if party.role == "signer" else "approver",
            decision=decision.decision,
            decided_at=decision.decided_at,
            auth_level=AUTH_LEVELS.get(decision.auth_level, decision.auth_level),
            on_behalf_of=party.name if on_behalf else None,
        )
        decided.append((decision.decided_at, party.position, line))
    decided.sort(key=lambda item: (item[0], item[1]))
    return SealedMatch(
        organisation=organization.name,
        request_ref=request.ref,
        request_title=request.title,
        document_title=found.original.title,
        completed_at=request.status_changed_at,
        decisions=tuple(line for _, _, line in decided),
        exact=exact,
    )
