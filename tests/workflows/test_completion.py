"""Completing a request: every PDF sealed, stored as a new version, everyone told; a
failure leaves it sealing and a later attempt finishes the work."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from aiohttp import web
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from sqlmodel import col, select

from inkpost.sealer import HttpTimestamper, SealWorker
from storage.models import Document, Notification, SignatureRequest
from tests.conftest import STAFF, Tenant
from tests.fakes.tsa import serving_tsa
from tests.helpers import sealed_documents, upload
from tests.workflows.pdf_inputs import pdftotext
from tests.workflows.test_sealing import drawn_signature, pdfsig
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput
from workflows.outbox.kinds import Kind
from workflows.signing import completion, creation, deciding, identity, party_page, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.party_notices import route_sign_notice
from workflows.signing.seal import SealingFailed, verify_pdf
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key

WEB = Actor(type="party", label="page", ip="198.51.100.7", user_agent="Safari")


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


async def _decided_request(env: Env, tenant: Tenant) -> tuple[int, list[int]]:
    """A request of two PDFs whose signer (drawing) and approver have both decided."""
    ids = []
    for title in ("Supply agreement", "Annex A"):
        document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
        assert document.id is not None
        ids.append(document.id)
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=ids,
            parties=[
                NewParty(role="signer", name="Sam Signer", phone="+46 70 111 22 33"),
                NewParty(role="approver", name="Ada Approver", phone="+46 70 444 55 66"),
            ],
        ),
    )
    for link in created.parties:
        for document_id in ids:
            await party_page.record_opened(env, link.token, document_id, actor=WEB)
    signer, approver = created.parties
    await deciding.decide(
        env,
        signer.token,
        Decision(
            kind="sign", typed_name="Sam Signer", consent=True, signature_png=drawn_signature()
        ),
        actor=WEB,
    )
    await deciding.decide(env, approver.token, Decision(kind="approve", consent=True), actor=WEB)
    assert created.request.id is not None
    return created.request.id, ids


async def _sealed_bytes(env: Env, document: Document) -> bytes:
    return b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])


async def test_completion_seals_every_pdf_and_tells_everyone(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    request_id, originals = await _decided_request(env, tenant)

    request = await completion.complete_request(env, request_id, key=seal)

    assert request.status == requests.COMPLETED
    sealed = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)
    assert [d.version_of for d in sealed] == originals
    assert all(d.filename.endswith("-signed.pdf") for d in sealed)
    async with env.reads() as session:
        first = await session.get(Document, originals[0])
    assert first is not None
    for document in sealed:
        pdf = await _sealed_bytes(env, document)
        report = await asyncio.to_thread(verify_pdf, pdf, trusted=seal)
        assert report.ok and len(report.signatures) == 2
        assert report.signatures[0].reason is not None
        assert "Sam Signer, signer" in report.signatures[0].reason
        assert "Ada Approver, approver" in (report.signatures[1].reason or "")
        assert all(
            s.get("Signature Validation") == "Signature is Valid." for s in pdfsig(pdf, tmp_path)
        )
    first_sealed = await asyncio.to_thread(
        verify_pdf, await _sealed_bytes(env, sealed[0]), trusted=seal
    )
    assert first.sha256 in first_sealed.revision_sha256
    async with env.reads() as session:
        notes = (await session.exec(select(Notification).order_by(col(Notification.id)))).all()
    assert [n.kind for n in notes if n.kind == Kind.SIGN_COMPLETED] == []  # link-only
    [told] = [n for n in notes if n.kind == Kind.SIGN_STATUS and n.payload["status"] == "completed"]
    assert told.payload["sealed"] == [d.ref for d in sealed]
    state = await requests.request_state(env, org_id=tenant.org_id, ref=request.ref)
    assert {o: d.id for o, d in state.sealed.items()} == {d.version_of: d.id for d in sealed}
    again = await completion.complete_request(env, request_id, key=seal)
    assert again.status == requests.COMPLETED
    assert len(await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)) == 2


async def test_a_failing_timestamp_authority_leaves_the_request_sealing(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    request_id, _ = await _decided_request(env, tenant)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with pytest.raises(SealingFailed):
        await completion.complete_request(
            env,
            request_id,
            key=seal,
            timestamper=HTTPTimeStamper(f"http://127.0.0.1:{closed_port}/tsa"),
        )

    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
    assert request is not None and request.status == requests.SEALING
    assert request.last_error and "SealingFailed" in request.last_error
    assert await sealed_documents(env, org_id=tenant.org_id, request_id=request_id) == []

    done = await completion.complete_request(env, request_id, key=seal)
    assert done.status == requests.COMPLETED and done.last_error is None


async def test_a_request_not_waiting_for_its_seal_is_left_alone(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=None,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="signer", name="S", phone="+46 70 777 88 99")],
        ),
    )
    assert created.request.id is not None

    with pytest.raises(Conflict, match="S-1 is pending, not waiting to be sealed"):
        await completion.complete_request(env, created.request.id, key=seal)


async def test_the_sealing_worker_completes_due_requests_and_retries_failures(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    request_id, _ = await _decided_request(env, tenant)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    failing = SealWorker(
        env, key=seal, timestamper=HTTPTimeStamper(f"http://127.0.0.1:{closed_port}/")
    )

    assert await failing.run_once() == 1
    async with env.reads() as session:
        [row] = (
            await session.exec(select(Notification).where(Notification.channel == "seal"))
        ).all()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at > env.clock.now() and "SealingFailed" in (row.last_error or "")

    row_due = SealWorker(env, key=seal)
    assert await row_due.run_once() == 0  # backing off: not due yet
    async with env.sessions() as session, session.begin():
        row.next_attempt_at = env.clock.now()
        session.add(await session.merge(row))
    assert await row_due.run_once() == 1

    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
        settled = await session.get(Notification, row.id)
    assert request is not None and request.status == requests.COMPLETED
    assert settled is not None and settled.status == "sent"


async def test_a_signed_pdf_goes_only_to_a_telegram_chat(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=None,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="approver", recipient_id=tenant.recipient_id)],
        ),
    )
    [party] = created.parties
    assert created.request.id is not None
    await identity.send_code(env, party.token)  # Rita has only an email: she confirms a code
    async with env.reads() as session:
        [code] = (
            await session.exec(select(Notification).where(Notification.kind == "sign.code"))
        ).all()
    confirmed = await identity.confirm_code(env, party.token, code.payload["code"])
    await deciding.decide(
        env,
        party.token,
        Decision(kind="approve", needs_review=False),
        actor=WEB,
        browser=confirmed.token,
    )
    await completion.complete_request(env, created.request.id, key=seal)

    async with env.reads() as session:
        [row] = (
            await session.exec(select(Notification).where(Notification.kind == Kind.SIGNED_FILE))
        ).all()
    route = await route_sign_notice(env, row)

    assert route.way == "cancel" and "no Telegram chat" in (route.reason or "")


async def test_the_certificate_lists_every_one_time_code_sent_tried_and_confirmed(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=None,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="approver", recipient_id=tenant.recipient_id)],
        ),
    )
    [party] = created.parties
    assert created.request.id is not None
    await identity.send_code(env, party.token, ip="203.0.113.9")
    async with env.reads() as session:
        [code] = (
            await session.exec(select(Notification).where(Notification.kind == "sign.code"))
        ).all()
    wrong = "000000" if code.payload["code"] != "000000" else "111111"
    with pytest.raises(InvalidInput):
        await identity.confirm_code(env, party.token, wrong, ip="203.0.113.9")
    confirmed = await identity.confirm_code(env, party.token, code.payload["code"])
    await deciding.decide(
        env,
        party.token,
        Decision(kind="approve", needs_review=False),
        actor=WEB,
        browser=confirmed.token,
    )

    await completion.complete_request(env, created.request.id, key=seal)

    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=created.request.id)
    text = " ".join(pdftotext(await _sealed_bytes(env, sealed), tmp_path, page=4).split())
    assert "Identified by: one-time code by email" in text
    sent = text.index("one-time code sent by email (IP 203.0.113.9)")
    tried = text.index("a wrong one-time code was typed (IP 203.0.113.9)")
    assert sent < tried < text.index("identity confirmed with the one-time code")


async def test_a_tsa_answering_503_is_named_with_its_status_in_the_requests_error(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    request_id, _ = await _decided_request(env, tenant)

    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down for maintenance")

    async with serving_tsa(unavailable) as url:
        with pytest.raises(SealingFailed):
            await completion.complete_request(
                env, request_id, key=seal, timestamper=HttpTimestamper(url, timeout=5)
            )

    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
    assert request is not None and request.status == requests.SEALING
    error = request.last_error or ""
    assert f"the timestamp authority {url}" in error and "503" in error, error
    assert "Service Unavailable" in error and "'sha256'" not in error, error
