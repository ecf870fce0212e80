"""Signature requests: creating them, deciding, the order of parties, codes, the ends."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import (
    AuditEvent,
    Party,
    PartyDecision,
    PartyLink,
    Recipient,
    SignatureRequest,
)
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import blob_files, count_rows, request_status, stored_notifications, upload
from workflows.context import Actor, Env, FixedClock
from workflows.errors import Conflict, Gone, InvalidInput, NotAllowed, NotFound
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients
from workflows.signing import creation, deciding, identity, party_page, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision

WEB = Actor(type="party", label="page", ip="203.0.113.9", user_agent="Firefox")


@dataclass
class Envelope:
    ref: str
    request_id: int
    tokens: dict[str, str]
    """Link token by party name."""
    document_ids: list[int]


async def _pdf(env: Env, tenant: Tenant, title: str = "Fee table 2027") -> int:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    assert document.id is not None
    return document.id


async def _envelope(
    env: Env, tenant: Tenant, parties: list[NewParty], *, order: str = "parallel", docs: int = 1
) -> Envelope:
    document_ids = [await _pdf(env, tenant, f"Contract part {i}") for i in range(docs)]
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=document_ids, parties=parties, order=order),
    )
    assert created.request.id is not None
    return Envelope(
        ref=created.request.ref,
        request_id=created.request.id,
        tokens={link.party.name: link.token for link in created.parties},
        document_ids=document_ids,
    )


def _link_only(name: str, role: str = "signer") -> NewParty:
    return NewParty(role=role, name=name, phone="+46 70 123 45 67")


async def _open_all(env: Env, token: str, envelope: Envelope) -> None:
    for document_id in envelope.document_ids:
        await party_page.record_opened(env, token, document_id, actor=WEB)


async def _sign(env: Env, token: str, envelope: Envelope, name: str) -> PartyDecision:
    await _open_all(env, token, envelope)
    return await deciding.decide(
        env, token, Decision(kind="sign", typed_name=name, consent=True), actor=WEB
    )


async def test_a_request_gives_each_party_a_link_and_invites_them(env: Env, tenant: Tenant) -> None:
    parties = [
        NewParty(role="signer", recipient_id=tenant.recipient_id),
        NewParty(role="approver", name="Adam Adhoc", email="adam@example.test"),
        _link_only("Vera Viewer", role="viewer"),
    ]

    envelope = await _envelope(env, tenant, parties, docs=2)

    assert envelope.ref == "S-1"
    assert set(envelope.tokens) == {"Rita Recipient", "Adam Adhoc", "Vera Viewer"}
    invites = await stored_notifications(env, kind=Kind.SIGN_INVITE)
    assert [(n.channel, n.target) for n in invites] == [
        ("recipient", str(tenant.recipient_id)),
        ("party", str(invites[1].payload["party_id"])),
    ]  # the viewer reachable only by link gets no message: staff pass the link on
    async with env.reads() as session:
        links = (await session.exec(select(PartyLink))).all()
        events = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "signature.requested"))
        ).all()
    assert all(len(link.token_hash) == 64 for link in links)
    assert not any(link.token_hash in envelope.tokens.values() for link in links)
    assert sorted(e.document_id for e in events) == sorted(envelope.document_ids)
    page = await party_page.open_page(env, envelope.tokens["Adam Adhoc"])
    assert page.party.role == "approver" and page.may_decide and page.code_channel == "email"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"parties": []}, "name at least one party"),
        ({"parties": [_link_only("Vera", role="viewer")]}, "at least one party must sign"),
        ({"parties": [NewParty(role="signer", name="Nobody")]}, "give Nobody's email, phone"),
        ({"parties": [NewParty(role="boss", name="X", phone="+4670")]}, "role must be"),
        (
            {"parties": [NewParty(role="signer", name="E", email="not-an-address")]},
            "is not an email address",
        ),
        (
            {"parties": [NewParty(role="signer", name="T", telegram_username="@x")]},
            "is not a Telegram username",
        ),
        ({"order": "random"}, "order must be parallel or sequential"),
        ({"document_ids": []}, "choose at least one PDF"),
        ({"expires_at": "past"}, "must expire in the future"),
        ({"remind_every_days": 0}, "reminders come every 1 to 30 days"),
    ],
)
async def test_a_bad_request_is_refused_and_writes_nothing(
    env: Env, tenant: Tenant, clock: FixedClock, change: dict[str, object], message: str
) -> None:
    document_id = await _pdf(env, tenant)
    values: dict[str, object] = {
        "document_ids": [document_id],
        "parties": [_link_only("Sam Signer")],
    }
    values.update(change)
    if values.get("expires_at") == "past":
        values["expires_at"] = clock.now() - timedelta(seconds=1)

    with pytest.raises(InvalidInput, match=message):
        await creation.create_request(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            staff_id=tenant.staff_id,
            new=NewRequest(**values),  # type: ignore[arg-type]
        )

    assert await count_rows(env, SignatureRequest) == 0
    assert await count_rows(env, Party) == 0
    assert await stored_notifications(env) == []


async def test_only_pdfs_of_this_organisation_and_live_recipients_can_be_used(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "globex")
    image = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title="Scan",
        filename="scan.png",
        data=b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    )
    theirs = await _pdf(env, other)
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    ours = await _pdf(env, tenant)

    async def create(document_id: int, party: NewParty) -> None:
        await creation.create_request(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            staff_id=None,
            new=NewRequest(document_ids=[document_id], parties=[party]),
        )

    assert image.id is not None
    with pytest.raises(InvalidInput, match="is not a PDF"):
        await create(image.id, _link_only("Sam"))
    with pytest.raises(NotFound, match="document"):
        await create(theirs, _link_only("Sam"))
    with pytest.raises(InvalidInput, match="blocked"):
        await create(ours, NewParty(role="signer", recipient_id=tenant.recipient_id))
    with pytest.raises(NotFound, match="recipient"):
        await create(ours, NewParty(role="signer", recipient_id=other.recipient_id))
    assert await count_rows(env, SignatureRequest) == 0


async def test_sequential_parties_are_invited_one_after_another(env: Env, tenant: Tenant) -> None:
    parties = [_link_only("First"), _link_only("Second", role="approver")]
    for party in parties:
        assert party.phone  # reachable only by link: they decide on possession of it
    envelope = await _envelope(env, tenant, parties, order="sequential")

    second = await party_page.open_page(env, envelope.tokens["Second"])
    assert not second.may_decide and second.waiting_for == "First"
    with pytest.raises(Conflict, match="not your turn yet: waiting for First"):
        await deciding.decide(
            env, envelope.tokens["Second"], Decision(kind="approve", consent=True), actor=WEB
        )

    first = await _sign(env, envelope.tokens["First"], envelope, "First Person")
    assert first.auth_level == "link" and first.ip == "203.0.113.9"

    second = await party_page.open_page(env, envelope.tokens["Second"])
    assert second.may_decide and second.party.invited_at is not None
    await _open_all(env, envelope.tokens["Second"], envelope)
    await deciding.decide(
        env, envelope.tokens["Second"], Decision(kind="approve", consent=True), actor=WEB
    )
    assert await request_status(env, envelope.request_id) == requests.SEALING
    [seal] = await stored_notifications(env, kind=Kind.SEAL_REQUEST)
    assert (seal.channel, seal.target) == ("seal", str(envelope.request_id))


async def test_a_decision_needs_every_document_opened_consent_and_a_typed_name(
    env: Env, tenant: Tenant
) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Sam")], docs=2)
    token = envelope.tokens["Sam"]

    with pytest.raises(InvalidInput, match="open every document before deciding"):
        await deciding.decide(
            env, token, Decision(kind="sign", typed_name="Sam", consent=True), actor=WEB
        )
    await _open_all(env, token, envelope)
    with pytest.raises(InvalidInput, match="tick the box"):
        await deciding.decide(env, token, Decision(kind="sign", typed_name="Sam"), actor=WEB)
    with pytest.raises(InvalidInput, match="type your full name"):
        await deciding.decide(env, token, Decision(kind="sign", consent=True), actor=WEB)
    with pytest.raises(InvalidInput, match="as signer you may sign or decline"):
        await deciding.decide(env, token, Decision(kind="approve", consent=True), actor=WEB)
    assert await count_rows(env, PartyDecision) == 0


async def test_a_party_with_a_channel_confirms_a_code_first(env: Env, tenant: Tenant) -> None:
    envelope = await _envelope(
        env, tenant, [NewParty(role="signer", name="Adam", email="adam@example.test")]
    )
    token = envelope.tokens["Adam"]
    await _open_all(env, token, envelope)
    with pytest.raises(NotAllowed, match="confirm the one-time code"):
        await deciding.decide(
            env, token, Decision(kind="sign", typed_name="Adam", consent=True), actor=WEB
        )

    sent = await identity.send_code(env, token)
    assert (sent.channel, sent.to) == ("email", "a***@example.test")
    with pytest.raises(Conflict, match="wait a minute"):
        await identity.send_code(env, token)
    [note] = await stored_notifications(env, kind=Kind.SIGN_CODE)
    code = note.payload["code"]
    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(InvalidInput, match="that code is wrong; 4 tries left"):
        await identity.confirm_code(env, token, wrong)
    confirmed = await identity.confirm_code(env, token, f"{code[:3]} {code[3:]}")

    decision = await deciding.decide(
        env,
        token,
        Decision(kind="sign", typed_name="Adam Adhoc", consent=True),
        actor=WEB,
        browser=confirmed.token,
    )
    assert decision.auth_level == "code:email" and decision.decided_by_name == "Adam Adhoc"


async def test_codes_expire_and_run_out_of_tries(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    envelope = await _envelope(
        env, tenant, [NewParty(role="signer", name="Adam", email="adam@example.test")]
    )
    token = envelope.tokens["Adam"]
    await identity.send_code(env, token)
    [note] = await stored_notifications(env, kind=Kind.SIGN_CODE)
    wrong = "000000" if note.payload["code"] != "000000" else "111111"
    for left in (4, 3, 2, 1):
        with pytest.raises(InvalidInput, match=f"{left} tr"):
            await identity.confirm_code(env, token, wrong)
    with pytest.raises(NotAllowed, match="too many wrong codes"):
        await identity.confirm_code(env, token, wrong)
    with pytest.raises(NotAllowed, match="too many wrong codes"):
        await identity.confirm_code(env, token, note.payload["code"])

    clock.at += identity.CODE_GAP
    await identity.send_code(env, token)
    clock.at += identity.CODE_TTL
    latest = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1]
    with pytest.raises(Gone, match="this code has expired"):
        await identity.confirm_code(env, token, latest.payload["code"])


async def test_telegram_vouches_for_its_own_user_only(env: Env, tenant: Tenant) -> None:
    async with env.sessions() as session, session.begin():
        rita = await session.get(Recipient, tenant.recipient_id)
        assert rita is not None
        rita.telegram_chat_id = rita.telegram_user_id = 5550001
        rita.telegram_active = True
        session.add(rita)
    envelope = await _envelope(
        env, tenant, [NewParty(role="approver", recipient_id=tenant.recipient_id)]
    )
    token = envelope.tokens["Rita Recipient"]

    with pytest.raises(NotAllowed, match="not the one this request was sent to"):
        await deciding.decide(
            env,
            token,
            Decision(kind="approve", telegram_user_id=42, needs_review=False),
            actor=WEB,
        )
    decision = await deciding.decide(
        env,
        token,
        Decision(kind="approve", telegram_user_id=5550001, needs_review=False),
        actor=WEB,
    )

    assert decision.auth_level == "telegram"
    assert await request_status(env, envelope.request_id) == requests.SEALING


async def test_a_decline_ends_the_request_for_everyone(env: Env, tenant: Tenant) -> None:
    parties = [
        _link_only("Sam"),
        NewParty(role="signer", recipient_id=tenant.recipient_id),
        NewParty(role="viewer", name="Adam", email="adam@example.test"),
    ]
    envelope = await _envelope(env, tenant, parties)

    with pytest.raises(InvalidInput, match="say why you decline"):
        await deciding.decide(env, envelope.tokens["Sam"], Decision(kind="decline"), actor=WEB)
    await deciding.decide(
        env, envelope.tokens["Sam"], Decision(kind="decline", reason="Wrong fee"), actor=WEB
    )

    assert await request_status(env, envelope.request_id) == requests.DECLINED
    ended = await stored_notifications(env, kind=Kind.SIGN_ENDED)
    assert sorted(n.channel for n in ended) == ["party", "recipient"]
    [staff] = [
        n
        for n in await stored_notifications(env, kind=Kind.SIGN_STATUS)
        if n.payload["status"] == "declined"
    ]
    assert staff.target == f"staff:{tenant.staff_id}"
    with pytest.raises(Gone, match="this request is declined"):
        await identity.send_code(env, envelope.tokens["Rita Recipient"])
    async with env.reads() as session:
        actions = (await session.exec(select(AuditEvent.action))).all()
    assert "signature.declined" in actions


async def test_a_decision_is_final_and_a_repeat_answers_with_the_first(
    env: Env, tenant: Tenant
) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Sam"), _link_only("Tom")])
    token = envelope.tokens["Sam"]
    await _open_all(env, token, envelope)
    submit = Decision(kind="sign", typed_name="Sam Signer", consent=True)

    first, second = await asyncio.gather(
        deciding.decide(env, token, submit, actor=WEB),
        deciding.decide(env, token, submit, actor=WEB),
    )

    assert first.party_id == second.party_id and first.decided_at == second.decided_at
    assert await count_rows(env, PartyDecision) == 1
    with pytest.raises(Conflict, match="already signed; a decision is final"):
        await deciding.decide(env, token, Decision(kind="decline", reason="no"), actor=WEB)


async def test_staff_cancel_a_pending_request_once(env: Env, tenant: Tenant) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Sam")])

    cancelled = await requests.cancel_request(
        env, org_id=tenant.org_id, actor=STAFF, ref=envelope.ref, reason="Sent by mistake"
    )

    assert cancelled.status == requests.CANCELLED
    with pytest.raises(Conflict, match="S-1 is cancelled"):
        await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref="S-1")
    with pytest.raises(NotFound, match="request S-9 not found"):
        await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref="s-9")
    with pytest.raises(InvalidInput, match="not a request reference"):
        await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref="D-1")
    other = await make_tenant(env, "globex")
    with pytest.raises(NotFound):
        await requests.request_state(env, org_id=other.org_id, ref=envelope.ref)


async def test_requests_expire_at_their_moment_and_not_before(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    document_id = await _pdf(env, tenant)
    ends = clock.now() + timedelta(days=3)
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=[document_id], parties=[_link_only("Sam")], expires_at=ends),
    )
    token = created.parties[0].token

    assert await requests.expire_due(env, now=ends - timedelta(seconds=1)) == []
    clock.at = ends
    with pytest.raises(Gone, match="this request has expired"):
        await deciding.decide(env, token, Decision(kind="decline", reason="late"), actor=WEB)
    assert await requests.expire_due(env, now=ends) == ["S-1"]
    assert await requests.expire_due(env, now=ends + timedelta(seconds=1)) == []
    state = await requests.request_state(env, org_id=tenant.org_id, ref="S-1")
    assert state.request.status == requests.EXPIRED


async def test_a_colleague_in_a_shared_cabinet_decides_for_an_absent_party(
    env: Env, tenant: Tenant
) -> None:
    colleague = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Carl Colleague"
    )
    outsider = await make_tenant(env, "globex")
    assert colleague.id is not None
    envelope = await _envelope(
        env, tenant, [NewParty(role="approver", recipient_id=tenant.recipient_id)]
    )
    async with env.reads() as session:
        party = (await session.exec(select(Party))).one()
    assert party.id is not None

    with pytest.raises(NotAllowed, match="sent to someone else"):
        await deciding.link_for_recipient(
            env, party_id=party.id, recipient_id=colleague.id, via="telegram"
        )
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    with pytest.raises(NotAllowed):
        await deciding.link_for_recipient(
            env, party_id=party.id, recipient_id=outsider.recipient_id, via="telegram"
        )
    token = await deciding.link_for_recipient(
        env, party_id=party.id, recipient_id=colleague.id, via="telegram"
    )

    page = await party_page.open_page(env, token)
    assert page.on_behalf and page.decider is not None and page.decider.name == "Carl Colleague"
    assert page.code_channel is None  # Carl has no channel: his link alone decides
    await _open_all(env, token, envelope)
    decision = await deciding.decide(env, token, Decision(kind="approve", consent=True), actor=WEB)
    assert decision.decided_by_name == "Carl Colleague"
    assert decision.decided_by_recipient_id == colleague.id
    async with env.reads() as session:
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "signature.approved"))
        ).one()
    assert event.details["on_behalf_of"] == "Rita Recipient"


async def test_a_drawn_signature_is_kept_and_a_bad_one_refused(env: Env, tenant: Tenant) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Sam")])
    token = envelope.tokens["Sam"]
    await _open_all(env, token, envelope)

    with pytest.raises(InvalidInput, match="not a PNG image"):
        await deciding.decide(
            env,
            token,
            Decision(kind="sign", typed_name="Sam", consent=True, signature_png=b"GIF89a"),
            actor=WEB,
        )
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
    decision = await deciding.decide(
        env,
        token,
        Decision(kind="sign", typed_name="Sam", consent=True, signature_png=png),
        actor=WEB,
    )

    assert decision.signature_blob_key is not None
    assert await env.blobs.exists(decision.signature_blob_key)


async def test_unknown_links_are_not_found(env: Env, tenant: Tenant) -> None:
    with pytest.raises(NotFound, match="signing link does not exist"):
        await party_page.open_page(env, "x" * 32)
    with pytest.raises(NotFound):
        await party_page.open_page(env, "../../etc")


async def test_a_refused_decision_keeps_no_drawing_on_the_medium(
    env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Sam")])
    token = envelope.tokens["Sam"]
    await _open_all(env, token, envelope)
    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 100
    before = blob_files(tmp_path / "blobs")

    with pytest.raises(InvalidInput, match="tick the box"):
        await deciding.decide(
            env, token, Decision(kind="sign", typed_name="Sam", signature_png=png), actor=WEB
        )

    assert blob_files(tmp_path / "blobs") == before


async def test_an_encrypted_pdf_cannot_be_sent_for_signature(env: Env, tenant: Tenant) -> None:
    # It opens without a password, but carries an owner's encryption.
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(make_pdf("Locked", pages=1))))
    writer.encrypt("owner-secret", "")
    out = io.BytesIO()
    writer.write(out)
    locked = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title="Locked",
        filename="locked.pdf",
        data=out.getvalue(),
    )
    assert locked.id is not None

    with pytest.raises(InvalidInput, match=f"{locked.ref} is an encrypted PDF"):
        await creation.create_request(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            staff_id=None,
            new=NewRequest(document_ids=[locked.id], parties=[_link_only("Sam")]),
        )

    assert await count_rows(env, SignatureRequest) == 0


async def test_an_untitled_request_is_named_by_its_documents_in_no_language(
    env: Env, tenant: Tenant
) -> None:
    envelope = await _envelope(env, tenant, [_link_only("Vera Viewer")], docs=3)

    async with env.reads() as session:
        request = await session.get(SignatureRequest, envelope.request_id)
    assert request is not None
    assert request.title == "Contract part 0, Contract part 1, Contract part 2"


async def test_a_long_untitled_request_title_is_cut_with_an_ellipsis(
    env: Env, tenant: Tenant
) -> None:
    long_title = "Schedule " + "x" * 200
    ids = [await _pdf(env, tenant, long_title) for _ in range(2)]
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=ids, parties=[_link_only("Vera Viewer")]),
    )

    assert len(created.request.title) == 300 and created.request.title.endswith("…")
    assert created.request.title.startswith(f"{long_title}, Schedule x")
