"""Checking an uploaded PDF: the seal, the completed request it belongs to, and what an
anonymous visitor may learn about it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import io
import os
import random
from dataclasses import dataclass

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Document, SignatureRequest
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import sealed_documents, upload
from tests.workflows.test_sealing import certificate_for, party
from workflows.context import Actor, Env, FixedClock
from workflows.signing import completion, creation, deciding, party_page, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.seal import seal_pdf
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key
from workflows.signing.verification import NOT_THE_ISSUED_COPY, check_sealed

WEB = Actor(type="party", label="page", ip="198.51.100.7", user_agent="Safari")
SIGNER_PHONE = "+46 70 111 22 33"
DECISION_GAP = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Sealed:
    ref: str
    original: bytes
    sealed: bytes


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


@pytest.fixture(scope="module")
def other_seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("other") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Elsewhere seal"))


async def completed_request(
    env: Env,
    tenant: Tenant,
    seal: SealKey,
    *,
    signer: str = "Sam Signer",
    approver: str = "Ada Approver",
    title: str = "Supply agreement",
) -> Sealed:
    """A one-document request signed by ``signer``, approved by ``approver`` (both
    deciding by their link), sealed and completed."""
    data = make_pdf(title, pages=2, lines=[os.urandom(8).hex()])
    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, data=data, title=title
    )
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            title=f"{title} 2027",
            parties=[
                NewParty(role="signer", name=signer, phone=SIGNER_PHONE),
                NewParty(role="approver", name=approver, phone="+46 70 444 55 66"),
                NewParty(role="viewer", name="Vera Viewer", phone="+46 70 777 88 99"),
            ],
        ),
    )
    sign_link, approve_link, _ = created.parties
    for link in (sign_link, approve_link):
        await party_page.record_opened(env, link.token, document.id, actor=WEB)
    await deciding.decide(
        env, sign_link.token, Decision(kind="sign", typed_name=signer, consent=True), actor=WEB
    )
    assert isinstance(env.clock, FixedClock)
    env.clock.at += DECISION_GAP
    await deciding.decide(
        env, approve_link.token, Decision(kind="approve", consent=True), actor=WEB
    )
    assert created.request.id is not None
    await completion.complete_request(env, created.request.id, key=seal)
    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=created.request.id)
    return Sealed(ref=created.request.ref, original=data, sealed=await _bytes(env, sealed))


async def _bytes(env: Env, document: Document) -> bytes:
    return b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])


async def sealed_elsewhere(
    pdf: bytes, key: SealKey, *, name: str = "Al", ref: str = "S-17"
) -> bytes:
    """``pdf`` sealed with ``key`` for a request this store does not hold."""
    certificate = certificate_for(pdf, [party(name, "signer")])
    certificate = dataclasses.replace(certificate, request_ref=ref)
    return await asyncio.to_thread(seal_pdf, pdf, key=key, certificate=certificate)


def appended_update(pdf: bytes) -> bytes:
    """``pdf`` with an incremental update adding an entry to its catalogue."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    writer.root["/InkpostNote"] = generic.TextStringObject("added after sealing")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def flipped(pdf: bytes, at: int) -> bytes:
    return pdf[:at] + bytes([pdf[at] ^ 1]) + pdf[at + 1 :]


def revision_ends(pdf: bytes) -> list[int]:
    ends, start = [], 0
    while (found := pdf.find(b"%%EOF", start)) >= 0:
        end = found + 5
        while end < len(pdf) and pdf[end : end + 1] in (b"\r", b"\n"):
            end += 1
        ends.append(end)
        start = end
    return ends


async def test_the_sealed_pdf_matches_its_request_with_every_decision(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)

    verdict = await check_sealed(env, done.sealed, trusted=seal)

    assert verdict.state == "sealed_and_matching" and verdict.findings == ()
    match = verdict.match
    assert match is not None and match.exact
    assert (match.organisation, match.request_ref, match.request_title) == (
        "Acme Law",
        done.ref,
        "Supply agreement 2027",
    )
    assert match.document_title == "Supply agreement"
    assert match.completed_at == env.clock.now()
    assert [(d.name, d.role, d.decision) for d in match.decisions] == [
        ("Sam Signer", "signer", "signed"),
        ("Ada Approver", "approver", "approved"),
    ]
    assert {d.auth_level for d in match.decisions} == {"possession of the link"}
    assert match.decisions[1].decided_at - match.decisions[0].decided_at == DECISION_GAP
    lines = verdict.signatures
    assert [(s.check.name, s.ours, s.role, s.decision) for s in lines] == [
        ("Sam Signer", True, "signer", "signed"),
        ("Ada Approver", True, "approver", "approved"),
    ]
    assert lines[0].auth_level == "possession of the link" and lines[0].on_behalf_of is None


async def test_a_verdict_reveals_nothing_the_certificate_page_does_not_show(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)

    verdict = await check_sealed(env, done.sealed, trusted=seal)

    text = repr(verdict)
    for secret in (SIGNER_PHONE, "Vera Viewer", "198.51.100.7", "Safari", "rita@", "Nordic"):
        assert secret not in text
    assert not any(
        isinstance(getattr(verdict.match, f.name), Document)
        for f in dataclasses.fields(verdict.match)  # type: ignore[arg-type]
    )


async def test_a_request_of_another_organisation_is_found_too(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    other = await make_tenant(env, "borealis")
    done = await completed_request(env, other, seal, title="Lease")

    verdict = await check_sealed(env, done.sealed, trusted=seal)

    assert verdict.state == "sealed_and_matching"
    assert verdict.match is not None and verdict.match.organisation == "Borealis Law"


async def test_the_unsigned_original_is_not_sealed_and_names_no_request(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)

    verdict = await check_sealed(env, done.original, trusted=seal)

    assert verdict.state == "not_sealed"
    assert verdict.signatures == () and verdict.match is None


async def test_a_byte_flipped_sealed_pdf_is_modified(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)
    tampered = flipped(done.sealed, done.sealed.index(b"stream", 200) + 20)

    verdict = await check_sealed(env, tampered, trusted=seal)

    assert verdict.state == "modified" and verdict.match is None
    assert len(verdict.findings) == 2
    assert "The signature for Sam Signer is broken" in verdict.findings[0]
    assert not any(line.ours for line in verdict.signatures)


async def test_an_update_appended_after_sealing_is_a_later_edit_of_the_request(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)

    verdict = await check_sealed(env, appended_update(done.sealed), trusted=seal)

    assert verdict.state == "modified"
    assert verdict.findings == (
        "Content was added after the last signature: the seal covers only the earlier part.",
    )
    assert verdict.match is not None and not verdict.match.exact
    assert verdict.match.request_ref == done.ref
    assert all(line.ours and line.check.intact for line in verdict.signatures)
    assert verdict.findings[0].told("pl") == (
        "Po ostatnim podpisie dodano treść: pieczęć obejmuje tylko wcześniejszą część."
    )


async def test_an_edit_after_the_first_seal_signature_is_traced_through_the_original(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)
    first_signed = done.sealed[: revision_ends(done.sealed)[1]]

    edited = await check_sealed(env, appended_update(first_signed), trusted=seal)
    truncated = await check_sealed(env, first_signed, trusted=seal)

    assert edited.state == "modified" and edited.match is not None
    assert edited.match.request_ref == done.ref and not edited.match.exact
    assert truncated.state == "modified" and truncated.findings == (NOT_THE_ISSUED_COPY,)
    assert truncated.match is not None and truncated.match.request_ref == done.ref


async def test_a_pdf_sealed_with_another_key_is_not_ours_and_names_no_request(
    env: Env, tenant: Tenant, seal: SealKey, other_seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)
    foreign = await asyncio.to_thread(
        seal_pdf,
        done.original,
        key=other_seal,
        certificate=certificate_for(done.original, [party("Mallory", "signer")]),
    )

    verdict = await check_sealed(env, foreign, trusted=seal)

    assert verdict.state == "not_ours" and verdict.match is None
    [line] = verdict.signatures
    assert line.check.signer == "Elsewhere seal" and not line.ours and line.role is None


async def test_a_foreign_signature_after_the_seal_is_a_modification(
    env: Env, tenant: Tenant, seal: SealKey, other_seal: SealKey
) -> None:
    pdf = make_pdf("Countersigned", pages=1)
    ours = await sealed_elsewhere(pdf, seal)
    resealed = await sealed_elsewhere(ours, other_seal, name="Eve", ref="X-1")

    verdict = await check_sealed(env, resealed, trusted=seal)

    assert verdict.state == "modified"
    assert verdict.findings == (
        "It was signed afterwards by Elsewhere seal, "
        "whose certificate this installation does not trust.",
    )


async def test_our_seal_without_a_request_here_is_intact_but_unknown(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    pdf = make_pdf("Sealed elsewhere", pages=1)
    sealed = await sealed_elsewhere(pdf, seal)

    verdict = await check_sealed(env, sealed, trusted=seal.trust_anchors)

    assert verdict.state == "intact_but_unknown" and verdict.match is None
    assert [line.ours for line in verdict.signatures] == [True]


@pytest.mark.parametrize(
    "junk",
    [random.Random(7).randbytes(4096), b"", b"%PDF-1.7\n garbage without structure"],
    ids=["random bytes", "empty", "a header and garbage"],
)
async def test_a_file_that_is_no_pdf_is_not_a_pdf(
    env: Env, tenant: Tenant, seal: SealKey, junk: bytes
) -> None:
    verdict = await check_sealed(env, junk, trusted=seal)

    assert verdict.state == "not_a_pdf" and verdict.signatures == () and verdict.size == len(junk)


async def test_a_request_still_sealing_is_not_a_match(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    done = await completed_request(env, tenant, seal)
    async with env.sessions() as session, session.begin():
        request = (await session.exec(select(SignatureRequest))).one()
        request.status = requests.SEALING
        session.add(request)

    verdict = await check_sealed(env, done.sealed, trusted=seal)

    assert verdict.state == "intact_but_unknown" and verdict.match is None
