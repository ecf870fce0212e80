"""Signing from Telegram: the real python-telegram-bot against the fake Bot API.

Staff send a request → the worker delivers the invitation → an approver approves or
rejects with the buttons (a reject asks for the reason as a reply), a signer opens their
page; a stranger's press, an old button and a colleague of a shared cabinet are handled.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import select

from bot.delivery import RecipientDelivery
from bot.telegram.app import TelegramConfig, build_application, running
from bot.telegram.sender import TelegramSender
from storage.models import PartyDecision
from tests.conftest import STAFF, Tenant
from tests.fakes.telegram_api import CallbackAnswer, FakeTelegramApi, SentMessage, TgUser
from tests.helpers import request_status, sealed_documents, stored_notifications, upload
from workflows.context import Env
from workflows.outbox.kinds import Kind
from workflows.people import linking, organizations, recipients
from workflows.signing import completion, creation, identity, party_page, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.seal_keys import create_self_signed_seal, load_seal_key

PUBLIC = "https://docs.example.test"
RITA = 5_000_000_201
CARL = 5_000_000_202
OLGA = 5_000_000_203
MALLORY = 5_000_000_666


@dataclass
class SigningStage:
    """The bot running against the fake, and a delivery worker beside it."""

    env: Env
    fake: FakeTelegramApi
    tenant: Tenant
    worker: RecipientDelivery
    telegram: TelegramSender

    async def link(self, recipient_id: int, chat_id: int) -> None:
        invite = await linking.create_invite(
            self.env, org_id=self.tenant.org_id, actor=STAFF, recipient_id=recipient_id
        )
        before = len(self.fake.messages_to(chat_id))
        self.fake.user_sends_text(chat_id, f"/start {invite.code}", user=TgUser(id=chat_id))
        await self.fake.wait_for(lambda: len(self.fake.messages_to(chat_id)) > before)

    async def person(self, name: str, *, client_id: int | None = None, language: str = "en") -> int:
        person = await recipients.add_recipient(
            self.env,
            org_id=self.tenant.org_id,
            actor=STAFF,
            client_id=client_id or self.tenant.client_id,
            name=name,
            language=language,
        )
        assert person.id is not None
        return person.id

    async def request(
        self, *parties: NewParty, client_id: int | None = None
    ) -> creation.CreatedRequest:
        document = await upload(
            self.env, org_id=self.tenant.org_id, client_id=client_id or self.tenant.client_id
        )
        assert document.id is not None
        return await creation.create_request(
            self.env,
            org_id=self.tenant.org_id,
            actor=STAFF,
            staff_id=self.tenant.staff_id,
            new=NewRequest(document_ids=[document.id], parties=parties),
        )

    async def press(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        user: int | None = None,
        strict: bool = True,
    ) -> CallbackAnswer:
        answered = len(self.fake.callback_answers)
        self.fake.user_presses_button(
            chat_id, message_id, data, user=TgUser(id=user or chat_id), strict=strict
        )
        await self.fake.wait_for(lambda: len(self.fake.callback_answers) > answered)
        return self.fake.callback_answers[-1]

    async def next_message(self, chat_id: int, before: int) -> SentMessage:
        await self.fake.wait_for(lambda: len(self.fake.messages_to(chat_id)) > before)
        return self.fake.messages_to(chat_id)[before]


@contextlib.asynccontextmanager
async def staged(env: Env, fake: FakeTelegramApi, tenant: Tenant) -> AsyncIterator[SigningStage]:
    fake.flood_limits = None
    config = TelegramConfig(
        token=fake.token,
        public_url=PUBLIC,
        max_upload_bytes=env.limits.max_upload_bytes,
        api_url=fake.url,
        poll_timeout=1,
        rate_limit=False,
    )
    application, _ = build_application(config, env)
    async with running(application, config):
        sender = TelegramSender(application.bot, env)
        worker = RecipientDelivery(env, public_url=PUBLIC, telegram=sender)
        yield SigningStage(env=env, fake=fake, tenant=tenant, worker=worker, telegram=sender)


@pytest.fixture
async def tg(
    env: Env, telegram_api: FakeTelegramApi, tenant: Tenant
) -> AsyncIterator[SigningStage]:
    async with staged(env, telegram_api, tenant) as ready:
        yield ready


async def _decisions(env: Env) -> list[PartyDecision]:
    async with env.reads() as session:
        return list((await session.exec(select(PartyDecision))).all())


def _invitation(tg: SigningStage, chat_id: int) -> SentMessage:
    [message] = [m for m in tg.fake.messages_to(chat_id) if "asks you to" in (m.text or "")]
    return message


async def test_an_approver_approves_with_the_button_and_the_request_moves_to_sealing(
    tg: SigningStage,
) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    created = await tg.request(NewParty(role="approver", recipient_id=rita))
    party_id = created.parties[0].party.id

    assert await tg.worker.run_once() == 1

    invitation = _invitation(tg, RITA)
    assert "Acme Law asks you to approve “Fee table 2027”" in (invitation.text or "")
    assert "S-1" not in (invitation.text or "") and "D-1" not in (invitation.text or "")
    approve, reject, review = invitation.buttons
    assert (approve["text"], approve["callback_data"]) == ("Approve", f"sa:{party_id}")
    assert (reject["text"], reject["callback_data"]) == ("Reject", f"sr:{party_id}")
    assert review["web_app"]["url"].startswith(f"{PUBLIC}/tg/app?s=")
    assert all(len(b["callback_data"].encode()) <= 64 for b in (approve, reject))

    before = len(tg.fake.messages_to(RITA))
    answer = await tg.press(RITA, invitation.message_id, approve["callback_data"])

    assert answer.text == "You approved “Fee table 2027”. Thank you!"
    confirmation = await tg.next_message(RITA, before)
    assert confirmation.text == "You approved “Fee table 2027”. Thank you!"
    [decision] = await _decisions(tg.env)
    assert (decision.decision, decision.auth_level) == ("approved", "telegram")
    assert decision.decided_by_recipient_id == rita and decision.user_agent == "Telegram"
    assert await request_status(tg.env, created.request.id) == requests.SEALING
    assert len(await stored_notifications(tg.env, kind=Kind.SEAL_REQUEST)) == 1
    current = tg.fake.current_message(RITA, invitation.message_id) or {}
    [[only]] = current["reply_markup"]["inline_keyboard"]
    assert "web_app" in only

    again = await tg.press(RITA, invitation.message_id, approve["callback_data"], strict=False)
    assert again.text == "You approved “Fee table 2027”. Thank you!"
    late = await tg.press(RITA, invitation.message_id, reject["callback_data"], strict=False)
    assert late.text == "You have already approved this request."
    assert len(await _decisions(tg.env)) == 1


async def test_a_signer_gets_review_and_sign_which_opens_their_page(tg: SigningStage) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    await tg.request(NewParty(role="signer", recipient_id=rita))
    plain = RecipientDelivery(tg.env, public_url="http://docs.example.test", telegram=tg.telegram)

    await plain.run_once()

    invitation = _invitation(tg, RITA)
    [button] = invitation.buttons
    assert button["text"] == "Review and sign" and "callback_data" not in button
    assert button["url"].startswith("http://docs.example.test/s/")
    page = await party_page.open_page(tg.env, button["url"].rsplit("/", 1)[1])
    assert page.party.recipient_id == rita and page.verb == "sign" and page.may_decide


async def test_reject_asks_for_a_reason_and_the_reply_declines_for_everyone(
    tg: SigningStage,
) -> None:
    rita = tg.tenant.recipient_id
    carl = await tg.person("Carl Cosigner", language="pl")
    await tg.link(rita, RITA)
    await tg.link(carl, CARL)
    created = await tg.request(
        NewParty(role="approver", recipient_id=rita), NewParty(role="signer", recipient_id=carl)
    )
    await tg.worker.run_once()
    invitation = _invitation(tg, RITA)
    before = len(tg.fake.messages_to(RITA))

    answer = await tg.press(RITA, invitation.message_id, invitation.buttons[1]["callback_data"])

    assert answer.text is None
    prompt = await tg.next_message(RITA, before)
    assert (prompt.text or "").startswith("Why do you decline “Fee table 2027”?")
    [link] = [e for e in prompt.payload["entities"] if e["type"] == "text_link"]
    assert link["url"].startswith(f"{PUBLIC}/s/") and link["url"].endswith("#decline")
    assert '"force_reply"' in str(tg.fake.requests_for("sendMessage")[-1].params)
    assert await _decisions(tg.env) == []

    tg.fake.user_sends_text(
        RITA, "The fee is too high", user=TgUser(id=RITA), reply_to=prompt.message_id
    )
    done = await tg.next_message(RITA, before + 1)

    assert done.text == "You declined “Fee table 2027”. Everyone concerned has been told."
    [decision] = await _decisions(tg.env)
    assert (decision.decision, decision.reason) == ("declined", "The fee is too high")
    assert decision.auth_level == "telegram"
    assert await request_status(tg.env, created.request.id) == requests.DECLINED
    carl_before = len(tg.fake.messages_to(CARL))
    await tg.worker.run_once()
    told = await tg.next_message(CARL, carl_before)
    assert "Prośba o podpis „Fee table 2027” od Acme Law została odrzucona" in (told.text or "")
    assert "Odrzucone przez: Rita Recipient. Powód: The fee is too high" in (told.text or "")


async def test_a_reply_to_any_other_message_decides_nothing(tg: SigningStage) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    await tg.request(NewParty(role="approver", recipient_id=rita))
    await tg.worker.run_once()
    invitation = _invitation(tg, RITA)

    tg.fake.user_sends_text(RITA, "No thanks", user=TgUser(id=RITA), reply_to=invitation.message_id)
    tg.fake.user_sends_text(RITA, "/help", user=TgUser(id=RITA))
    await tg.fake.wait_for(lambda: "What I can do" in (tg.fake.messages_to(RITA)[-1].text or ""))

    assert await _decisions(tg.env) == []


async def test_a_press_from_another_telegram_account_is_refused(tg: SigningStage) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    created = await tg.request(NewParty(role="approver", recipient_id=rita))
    await tg.worker.run_once()
    invitation = _invitation(tg, RITA)

    for button in invitation.buttons[:2]:
        answer = await tg.press(RITA, invitation.message_id, button["callback_data"], user=MALLORY)
        assert answer.text == "This request was sent to another Telegram account."
        assert answer.show_alert

    assert await _decisions(tg.env) == []
    assert await request_status(tg.env, created.request.id) == requests.PENDING


async def test_an_old_button_after_a_cancel_answers_no_longer_available(tg: SigningStage) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    created = await tg.request(NewParty(role="approver", recipient_id=rita))
    await tg.worker.run_once()
    invitation = _invitation(tg, RITA)
    await requests.cancel_request(
        tg.env, org_id=tg.tenant.org_id, actor=STAFF, ref=created.request.ref, reason="Outdated"
    )

    for button in invitation.buttons[:2]:
        answer = await tg.press(RITA, invitation.message_id, button["callback_data"])
        assert answer.text == "This request is no longer available."

    assert await _decisions(tg.env) == []
    before = len(tg.fake.messages_to(RITA))
    await tg.worker.run_once()
    told = await tg.next_message(RITA, before)
    assert "Acme Law cancelled “Fee table 2027”" in (told.text or "")
    assert "Reason: Outdated" in (told.text or "")
    assert not told.buttons


async def test_a_colleague_in_a_shared_cabinet_decides_from_their_own_chat(
    tg: SigningStage,
) -> None:
    cabinet = await organizations.add_client(
        tg.env, org_id=tg.tenant.org_id, actor=STAFF, name="Fjord AB", shared_cabinet=True
    )
    olga = await tg.person("Olga Owner", client_id=cabinet.id)
    carl = await tg.person("Carl Colleague", client_id=cabinet.id)
    await tg.link(olga, OLGA)
    await tg.link(carl, CARL)
    created = await tg.request(NewParty(role="approver", recipient_id=olga), client_id=cabinet.id)
    await tg.worker.run_once()
    data = _invitation(tg, OLGA).buttons[0]["callback_data"]
    greeting = tg.fake.messages_to(CARL)[-1]

    # The same button, pressed in the colleague's own chat (a client offers only what is
    # on screen, so the fake is told not to insist).
    answer = await tg.press(CARL, greeting.message_id, data, strict=False)

    assert answer.text == "You approved “Fee table 2027”. Thank you!"
    [decision] = await _decisions(tg.env)
    assert decision.decided_by_recipient_id == carl and decision.decided_by_name == "Carl Colleague"
    assert decision.auth_level == "telegram"
    assert await request_status(tg.env, created.request.id) == requests.SEALING


async def test_a_one_time_code_arrives_in_telegram_and_is_not_kept(tg: SigningStage) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    created = await tg.request(NewParty(role="signer", recipient_id=rita))
    await tg.worker.run_once()
    token = created.parties[0].token
    await identity.send_code(tg.env, token)
    before = len(tg.fake.messages_to(RITA))

    await tg.worker.run_once()

    message = await tg.next_message(RITA, before)
    assert (message.text or "").startswith("Your one-time code for “Fee table 2027”")
    [code_entity] = [e for e in message.payload["entities"] if e["type"] == "code"]
    text = message.text or ""
    code = text[code_entity["offset"] : code_entity["offset"] + code_entity["length"]]
    assert "expires in 10 minutes" in text
    [row] = await stored_notifications(tg.env, kind=Kind.SIGN_CODE)
    assert row.status == "sent" and "code" not in row.payload
    await identity.confirm_code(tg.env, token, code)
    assert (await party_page.open_page(tg.env, token)).party.verified_via == "telegram"


async def test_once_sealed_the_signed_pdf_arrives_in_the_partys_chat(
    tg: SigningStage, tmp_path: Path
) -> None:
    rita = tg.tenant.recipient_id
    await tg.link(rita, RITA)
    created = await tg.request(NewParty(role="approver", recipient_id=rita))
    assert created.request.id is not None
    assert await tg.worker.run_once() == 1
    invitation = _invitation(tg, RITA)
    await tg.press(RITA, invitation.message_id, invitation.buttons[0]["callback_data"])
    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))
    await completion.complete_request(tg.env, created.request.id, key=seal)
    before = len(tg.fake.messages_to(RITA))

    while await tg.worker.run_once():
        pass

    sent = tg.fake.messages_to(RITA)[before:]
    files = [m for m in sent if m.method == "sendDocument"]
    assert len(files) == 1 and files[0].document is not None
    [sealed] = await sealed_documents(
        tg.env, org_id=tg.tenant.org_id, request_id=created.request.id
    )
    assert files[0].document.file_name == sealed.filename
    assert hashlib.sha256(files[0].document.data).hexdigest() == sealed.sha256
    assert any("“Fee table 2027” from Acme Law is complete" in (m.text or "") for m in sent)
    assert not any("S-1" in (m.text or "") for m in sent)
    assert {r.status for r in await stored_notifications(tg.env, kind=Kind.SIGNED_FILE)} == {"sent"}
