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

A document that carried signatures before it was sealed holds no certificate pages (they
would have broken those signatures): its first seal signature, in the revision after the
original's last, names the decision, and the certificate is a sealed PDF of its own,
which is matched like any sealed PDF. Such earlier signatures are reported one by one:
valid, modified (the file was changed afterwards in ways the signature does not permit)
or invalid (what it covers does not match it). They were in the document when it was
sealed, so the seal's verdict does not depend on them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from asn1crypto import x509 as asn1_x509
from sqlalchemy import or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

import texts
from storage.models import Document, Organization, RequestDocument, SignatureRequest
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.signing import requests
from workflows.signing.completion import AUTH_LEVELS, CERTIFICATE_POSITION
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
EarlierState = Literal["valid", "modified", "invalid"]
MAX_ORIGINAL_CANDIDATES = 5
"""Completed requests of one original document whose sealed PDFs are read to find the
one an edited upload was made from; a document is rarely sent for signature more often."""

_REASON = re.compile(
    r"^(?P<name>.+), (?P<role>signer|approver), (?P<decision>signed|approved) on "
    r"(?P<when>[^;]+); identified by (?P<auth>.+?)(?:; on behalf of (?P<behalf>.+))?$",
    re.DOTALL,
)
_EOF = re.compile(rb"%%EOF(\r\n|\r|\n)?")


class Finding(str):
    """One reason the seal does not hold: the English sentence (for staff, logs and
    tests), which a page also tells in its reader's language by the catalogue key
    ``says`` with ``values``."""

    says: str
    values: dict[str, str]

    def __new__(cls, says: str, **values: str) -> Finding:
        finding = super().__new__(cls, texts.text(texts.FALLBACK, says, escape=False, **values))
        finding.says = says
        finding.values = values
        return finding

    def told(self, language: str | None) -> str:
        return texts.text(language, self.says, escape=False, **self.values)


NOT_THE_ISSUED_COPY = Finding("verify.finding.not_issued_copy")


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
    earlier: bool = False
    """Made before the seal's first signature: in the document when it was sealed."""

    @property
    def state(self) -> EarlierState:
        """Invalid: what it covers does not match it; modified: the file was changed
        afterwards in ways it does not permit; valid otherwise (whether its certificate is
        to be trusted is not judged here)."""
        if not (self.check.intact and self.check.valid):
            return "invalid"
        return "valid" if self.check.changes_permitted else "modified"


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
    findings: tuple[Finding, ...] = ()
    """Why the seal does not hold, one short sentence each (for ``modified``)."""

    @property
    def earlier(self) -> tuple[SignatureLine, ...]:
        """The signatures the document carried before it was sealed."""
        return tuple(line for line in self.signatures if line.earlier)

    @property
    def earlier_not_valid(self) -> bool:
        return any(line.state != "valid" for line in self.earlier)


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
        LOG.info("a signature of an uploaded file could not be read: %s", error)
        return Verdict("modified", digest, size, findings=(Finding("verify.finding.unreadable"),))
    except Exception as error:
        # pyHanko can fail in many ways on a hostile or broken file; each means the same
        # to the visitor: this is not a PDF that can be checked.
        LOG.info("an uploaded file could not be checked: %s: %s", type(error).__name__, error)
        return Verdict("not_a_pdf", digest, size)
    if not report.signatures:
        return Verdict("not_sealed", digest, size)
    lines = _marked_earlier(tuple(_line(check) for check in report.signatures))
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


def _marked_earlier(lines: tuple[SignatureLine, ...]) -> tuple[SignatureLine, ...]:
    """``lines`` with those before the first signature of a trusted seal marked
    ``earlier``."""
    first = _first_seal(lines)
    if first is None:
        return lines
    return tuple(replace(line, earlier=True) for line in lines[:first]) + lines[first:]


def _first_seal(lines: Sequence[SignatureLine]) -> int | None:
    return next(
        (
            index
            for index, line in enumerate(lines)
            if line.check.kind == "signature" and line.check.trusted
        ),
        None,
    )


def _judge(lines: tuple[SignatureLine, ...]) -> tuple[VerdictState, tuple[Finding, ...]]:
    """The state the signatures alone support: a broken signature, or anything added
    after the last of ours other than a timestamp, is a modification; signatures only by
    others are not ours. ``sealed_and_matching`` here means only "the seal holds".
    Signatures made before the seal are judged apart (``SignatureLine.state``)."""
    broken = [
        line for line in lines if not line.earlier and not (line.check.intact and line.check.valid)
    ]
    if broken:
        return "modified", tuple(_broken(line) for line in broken)
    ours = [index for index, line in enumerate(lines) if line.ours]
    if not ours:
        return "not_ours", ()
    findings = [
        Finding("verify.finding.signed_after", signer=line.check.signer)
        if line.check.signer
        else Finding("verify.finding.signed_after_unnamed")
        for line in lines[ours[-1] + 1 :]
        if line.check.kind == "signature"
    ]
    if not lines[-1].check.covers_whole_file:
        findings.append(Finding("verify.finding.added"))
    return ("modified", tuple(findings)) if findings else ("sealed_and_matching", ())


def _broken(line: SignatureLine) -> Finding:
    if line.check.kind == "timestamp":
        if line.check.signer:
            return Finding("verify.finding.timestamp_broken", signer=line.check.signer)
        return Finding("verify.finding.timestamp_broken_unnamed")
    who = line.check.name or line.check.signer or line.check.field
    return Finding("verify.finding.signature_broken", who=who)


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
            for candidate in await _sealed_from_original(session, report.revision_sha256):
                sealed_revisions = await _revisions_of(env, candidate.sealed)
                if revisions & set(_after(sealed_revisions, candidate.original.sha256)):
                    found = candidate
                    break
        if found is None:
            return None
        return await _match(session, found, exact=found.sealed.sha256 == digest)


async def _sealed_within(
    session: AsyncSession, revisions: set[str], order: Sequence[str], digest: str
) -> _Candidate | None:
    """A sealed PDF that is the upload, or one of its revisions (the latest wins). A
    document kept unchanged (certified against any change) is its own sealed result, and
    no match: it was never sealed; the request's certificate is."""
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
            or_(
                col(RequestDocument.sealed_document_id) != col(RequestDocument.document_id),
                col(RequestDocument.position) == CERTIFICATE_POSITION,
            ),
        )
    )
    ranked = [*order, digest]
    candidates = [_Candidate(sealed, orig, request) for sealed, orig, request in rows.all()]
    if not candidates:
        return None
    return max(candidates, key=lambda c: ranked.index(c.sealed.sha256))


async def _sealed_from_original(
    session: AsyncSession, revisions: Sequence[str]
) -> list[_Candidate]:
    """Sealed PDFs of completed requests whose original is one of the upload's revisions
    (the first, or a later one for an original that carried signatures)."""
    sealed = aliased(Document)
    rows = await session.exec(
        select(sealed, Document, SignatureRequest)
        .join(RequestDocument, col(RequestDocument.document_id) == Document.id)
        .join(sealed, col(sealed.id) == RequestDocument.sealed_document_id)
        .join(SignatureRequest, col(SignatureRequest.id) == RequestDocument.request_id)
        .where(
            col(Document.sha256).in_(list(revisions)),
            col(RequestDocument.sealed_document_id) != col(RequestDocument.document_id),
            Document.org_id == RequestDocument.org_id,
            SignatureRequest.org_id == RequestDocument.org_id,
            SignatureRequest.status == requests.COMPLETED,
        )
        .order_by(col(SignatureRequest.id).desc())
        .limit(MAX_ORIGINAL_CANDIDATES)
    )
    return [_Candidate(s, orig, request) for s, orig, request in rows.all()]


def _after(revisions: Sequence[str], original: str) -> Sequence[str]:
    """The revisions a sealed PDF added to its original: from its first seal signature on
    (the first one holds the certificate pages, when there are any)."""
    return revisions[revisions.index(original) + 1 :] if original in revisions else ()


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
