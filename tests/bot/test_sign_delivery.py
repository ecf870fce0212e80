"""The delivery worker and signing notices: invitations with their links and buttons, codes
that do not outlive their sending, notices for people outside the system, ended requests."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot import sign_texts
from bot.delivery import RecipientDelivery
from bot.errors import DeliveryError, PermanentFailure, Unreachable
from bot.mail import MailSender, SmtpConfig
from bot.sign_texts import SignLinks
from bot.telegram import messages
from storage.models import Document, Organization, Party, SignatureRequest
from tests.conftest import STAFF, Tenant
from tests.fakes.smtp import SmtpServer
from tests.helpers import link_chat, request_signatures, stored_notifications
from workflows.context import Actor, Env, FixedClock
from workflows.outbox.kinds import Kind
from workflows.people.linking import ChatIdentity
from workflows.sharing.notices import ShareNotice
from workflows.signing import deciding, identity, party_page, requests
from workflows.signing.creation import NewParty
from workflows.signing.deciding import Decision
from workflows.signing.party_notices import SignNotice

PUBLIC = "https://docs.example.test"
CHAT, USER = 4242, 9001
RITA = ChatIdentity(chat_id=CHAT, user_id=USER)
"""The Telegram chat of the tenant's recipient, once linked."""
PARTY_CHANNELS = ("recipient", "party")
"""Where notices to recipients and parties go (staff's go to Slack)."""
WEB = Actor(type="party", label="page", ip="203.0.113.9", user_agent="Firefox")


@dataclass
class Recorder:
    """A channel that records what it was asked to send and fails as told."""

    failures: list[DeliveryError] = field(default_factory=list)
    sent: list[tuple[SignNotice, SignLinks | None]] = field(default_factory=list)

    async def send_share_notice(self, notice: ShareNotice, *, link: str) -> dict[str, str]:
        raise AssertionError("no document was shared in these tests")

    async def send_sign_notice(
        self, notice: SignNotice, *, links: SignLinks | None
    ) -> dict[str, str]:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((notice, links))
        return {"message_id": str(len(self.sent))}


def _token(links: SignLinks | None) -> str:
    assert links is not None and links.page.startswith(f"{PUBLIC}/s/")
    return links.page.rsplit("/", 1)[1]


def _worker(
    env: Env, *, telegram: Recorder | None = None, mail: Recorder | MailSender | None = None
) -> RecipientDelivery:
    return RecipientDelivery(env, public_url=PUBLIC, telegram=telegram, mail=mail)


async def test_a_linked_party_is_invited_in_telegram_with_a_fresh_link_to_their_page(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    await request_signatures(
        env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id), message="By Friday"
    )
    telegram, mail = Recorder(), Recorder()

    assert await _worker(env, telegram=telegram, mail=mail).run_once() == 1

    [(notice, links)] = telegram.sent
    assert mail.sent == [] and notice.kind == Kind.SIGN_INVITE
    token = _token(links)
    assert links is not None and links.app == f"{PUBLIC}/tg/app?s={token}"
    page = await party_page.open_page(env, token)
    assert page.party.recipient_id == tenant.recipient_id and not page.on_behalf
    assert page.link.issued_for == "telegram"
    [row] = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (row.status, row.delivered_via) == ("sent", "telegram")
    body, _ = messages.sign_notice(notice, links=links)
    assert "Acme Law asks you to sign “Fee table 2027”" in body and "By Friday" in body
    assert "S-1" not in body and "D-1" not in body
    assert "Sent by Stella Staff" in body and "Fee table 2027" in body


async def test_without_a_chat_the_invitation_goes_by_mail_with_a_link_issued_for_mail(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await request_signatures(
        env, tenant, NewParty(role="approver", recipient_id=tenant.recipient_id)
    )
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))

    await _worker(env, telegram=Recorder(), mail=mail).run_once()

    [message] = await smtp_server.wait_for(1)
    assert message["To"] == "rita@acme-client.test"
    assert message["Subject"] == "Acme Law asks you to approve “Fee table 2027”"
    body = message.get_content()
    assert "S-1" not in body and "D-1" not in body
    [link] = [line for line in body.splitlines() if line.startswith(f"{PUBLIC}/s/")]
    page = await party_page.open_page(env, link.rsplit("/", 1)[1])
    assert page.link.issued_for == "email" and page.party.role == "approver"
    assert "/tg/app" not in body
    [row] = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (row.status, row.delivered_via) == ("sent", "email")


async def test_a_blocked_bot_sends_the_invitation_by_mail_with_a_link_minted_for_mail(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    await request_signatures(env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id))
    telegram = Recorder(failures=[Unreachable("Forbidden: bot was blocked by the user")])
    mail = Recorder()

    await _worker(env, telegram=telegram, mail=mail).run_once()

    [(notice, links)] = mail.sent
    assert telegram.sent == [] and notice.kind == Kind.SIGN_INVITE
    assert links is not None and links.app is None
    assert (await party_page.open_page(env, _token(links))).link.issued_for == "email"
    [row] = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (row.status, row.delivered_via) == ("sent", "email")


async def test_a_person_outside_the_system_is_invited_by_mail_in_their_language(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    await request_signatures(
        env,
        tenant,
        NewParty(role="signer", name="Adam Adhoc", email="adam@example.test", language="sv"),
    )
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    telegram = Recorder()

    await _worker(env, telegram=telegram, mail=mail).run_once()

    [message] = await smtp_server.wait_for(1)
    assert telegram.sent == []
    assert message["To"] == "adam@example.test"
    assert message["Subject"] == "Acme Law ber dig att signera ”Fee table 2027”"
    body = message.get_content()
    assert body.startswith("Hej Adam Adhoc,") and "Dokument: Fee table 2027" in body
    [link] = [line for line in body.splitlines() if line.startswith(f"{PUBLIC}/s/")]
    page = await party_page.open_page(env, link.rsplit("/", 1)[1])
    assert page.party.name == "Adam Adhoc" and page.link.issued_for == "email"
    [row] = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (row.channel, row.status, row.delivered_via) == ("party", "sent", "email")


async def test_a_party_row_waits_when_no_mail_is_configured(env: Env, tenant: Tenant) -> None:
    await request_signatures(
        env, tenant, NewParty(role="signer", name="Adam Adhoc", email="adam@x.test")
    )

    await _worker(env, telegram=Recorder()).run_once()

    [row] = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (row.status, row.last_error) == ("waiting", "no email channel is configured")


async def test_a_one_time_code_is_delivered_and_not_kept_after(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    created = await request_signatures(
        env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id)
    )
    telegram = Recorder()
    worker = _worker(env, telegram=telegram)
    await worker.run_once()
    token = created.parties[0].token

    sent = await identity.send_code(env, token)
    await worker.run_once()

    assert sent.channel == "telegram"
    notice, links = telegram.sent[-1]
    assert notice.kind == Kind.SIGN_CODE and links is None and notice.code is not None
    body, keyboard = messages.sign_notice(notice, links=links)
    assert f"<code>{notice.code}</code>" in body and "10 minutes" in body and keyboard is None
    [row] = await stored_notifications(env, kind=Kind.SIGN_CODE, channels=PARTY_CHANNELS)
    assert row.status == "sent" and "code" not in row.payload
    assert row.payload["party_id"] == created.parties[0].party.id
    confirmed = await identity.confirm_code(env, token, notice.code)
    assert (await party_page.open_page(env, token, browser=confirmed.token)).verified
    assert not (await party_page.open_page(env, token)).verified


async def test_a_code_by_mail_says_the_code_but_not_in_the_subject(
    env: Env, tenant: Tenant, smtp_server: SmtpServer
) -> None:
    created = await request_signatures(
        env, tenant, NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")
    )
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    worker = _worker(env, mail=mail)
    await worker.run_once()
    await identity.send_code(env, created.parties[0].token)

    await worker.run_once()

    _, message = await smtp_server.wait_for(2)
    [row] = await stored_notifications(env, kind=Kind.SIGN_CODE, channels=PARTY_CHANNELS)
    assert "code" not in row.payload and row.status == "sent"
    body = message.get_content()
    [code] = [line.split(": ")[1] for line in body.splitlines() if line.startswith("Your code:")]
    assert code.isdigit() and len(code) == identity.CODE_DIGITS
    assert code not in message["Subject"] and "expires in 10 minutes" in body
    await identity.confirm_code(env, created.parties[0].token, code)


async def test_a_replaced_or_undeliverable_code_is_dropped_without_a_trace(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await link_chat(env, tenant, chat=RITA)
    created = await request_signatures(
        env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id)
    )
    token = created.parties[0].token
    telegram = Recorder()
    worker = _worker(env, telegram=telegram)
    await worker.run_once()
    await identity.send_code(env, token)
    clock.at += identity.CODE_GAP
    await identity.send_code(env, token)
    telegram.failures.append(PermanentFailure("Bad Request: chat is deactivated"))

    await worker.run_once()

    first, second = await stored_notifications(env, kind=Kind.SIGN_CODE, channels=PARTY_CHANNELS)
    assert (first.status, first.last_error) == ("cancelled", "a newer code was sent")
    assert second.status == "dead"
    assert "code" not in first.payload and "code" not in second.payload
    assert [n.kind for n, _ in telegram.sent] == [Kind.SIGN_INVITE]


async def test_an_invitation_for_a_request_cancelled_meanwhile_is_not_sent(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    created = await request_signatures(
        env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id)
    )
    await requests.cancel_request(
        env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref, reason="Wrong fee table"
    )
    telegram = Recorder()

    await _worker(env, telegram=telegram).run_once()

    invite, ended = await stored_notifications(env, channels=PARTY_CHANNELS)
    assert (invite.kind, invite.status) == (Kind.SIGN_INVITE, "cancelled")
    assert (ended.kind, ended.status) == (Kind.SIGN_ENDED, "sent")
    [(notice, links)] = telegram.sent
    body, keyboard = messages.sign_notice(notice, links=links)
    assert links is None and keyboard is None
    assert "Acme Law cancelled “Fee table 2027”" in body and "Reason: Wrong fee table" in body


async def test_a_decline_tells_the_other_parties_who_declined_and_why(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    created = await request_signatures(
        env,
        tenant,
        NewParty(role="signer", recipient_id=tenant.recipient_id),
        NewParty(role="approver", name="Vera Vetter", phone="+46 70 123 45 67"),
    )
    telegram = Recorder()
    worker = _worker(env, telegram=telegram)
    await worker.run_once()
    vera = next(link.token for link in created.parties if link.party.name == "Vera Vetter")
    await deciding.decide(
        env, vera, Decision(kind="decline", reason="The price is wrong"), actor=WEB
    )

    await worker.run_once()

    notice, links = telegram.sent[-1]
    assert notice.kind == Kind.SIGN_ENDED and links is None
    body, _ = messages.sign_notice(notice, links=links)
    assert "“Fee table 2027” from Acme Law was declined" in body
    assert "Declined by Vera Vetter: The price is wrong" in body


def _notice(role: str, *, kind: str = Kind.SIGN_INVITE, party_id: int = 7) -> SignNotice:
    return SignNotice(
        kind=kind,
        organization=Organization(slug="acme", name="Acme <Law>"),
        request=SignatureRequest(org_id=1, number=4, title="Lease & annex", status="pending"),
        party=Party(
            id=party_id, org_id=1, request_id=1, position=1, role=role, name="Rita", language="pl"
        ),
        documents=[
            Document(
                org_id=1,
                number=1,
                client_id=1,
                title="Lease",
                category="contract",
                filename="lease.pdf",
                media_type="application/pdf",
                size=1,
                sha256="0" * 64,
                blob_key="0" * 64,
            )
        ],
        recipient=None,
    )


HTTPS = SignLinks(page=f"{PUBLIC}/s/tok", app=f"{PUBLIC}/tg/app?s=tok")
HTTP = SignLinks(page="http://docs.example.test/s/tok")


@pytest.mark.parametrize(
    ("role", "links", "expected"),
    [
        ("signer", HTTPS, [("Przejrzyj i podpisz", "web_app", HTTPS.app)]),
        ("signer", HTTP, [("Przejrzyj i podpisz", "url", HTTP.page)]),
        (
            "approver",
            HTTP,
            [
                ("Zatwierdź", "callback_data", "sa:7"),
                ("Odrzuć", "callback_data", "sr:7"),
                ("Przejrzyj dokumenty", "url", HTTP.page),
            ],
        ),
        ("viewer", HTTP, [("Przejrzyj dokumenty", "url", HTTP.page)]),
    ],
)
def test_each_role_gets_its_own_buttons_in_the_partys_language(
    role: str, links: SignLinks, expected: list[tuple[str, str, str]]
) -> None:
    body, keyboard = messages.sign_notice(_notice(role), links=links)

    assert keyboard is not None
    found = []
    for button in (b for row in keyboard.inline_keyboard for b in row):
        action = "web_app" if button.web_app else "url" if button.url else "callback_data"
        value = button.web_app.url if button.web_app else button.url or button.callback_data
        found.append((button.text, action, value))
    assert found == expected
    assert "Acme &lt;Law&gt;" in body and "„Lease &amp; annex”" in body


def test_callback_data_fits_telegrams_64_bytes_for_any_party_id() -> None:
    _, keyboard = messages.sign_notice(_notice("approver", party_id=2**63 - 1), links=HTTP)
    assert keyboard is not None
    data = [b.callback_data for row in keyboard.inline_keyboard for b in row if b.callback_data]
    assert len(data) == 2 and all(len(str(d).encode()) <= 64 for d in data)


def test_a_completion_notice_links_to_the_page() -> None:
    body, keyboard = messages.sign_notice(_notice("signer", kind=Kind.SIGN_COMPLETED), links=HTTP)
    assert keyboard is not None and keyboard.inline_keyboard[0][0].url == HTTP.page
    assert "zakończona" in body


NOTICE_KINDS = [
    (Kind.SIGN_INVITE, "pending"),
    (Kind.SIGN_REMINDER, "pending"),
    (Kind.SIGN_CODE, "pending"),
    (Kind.SIGN_COMPLETED, "completed"),
    (Kind.SIGN_ENDED, "declined"),
    (Kind.SIGN_ENDED, "cancelled"),
    (Kind.SIGN_ENDED, "expired"),
]


@pytest.mark.parametrize("language", ["en", "pl", "ru", "sv"])
@pytest.mark.parametrize(("kind", "status"), NOTICE_KINDS)
def test_every_signing_notice_names_the_request_by_its_title_never_by_its_reference(
    language: str, kind: str, status: str
) -> None:
    notice = _notice("signer", kind=kind)
    notice.party.language = language
    notice.request.status = status
    composed = MailSender(SmtpConfig(host="localhost", port=25)).compose_sign(
        dataclasses.replace(notice, code="123456" if kind == Kind.SIGN_CODE else None),
        links=None if kind in (Kind.SIGN_CODE, Kind.SIGN_ENDED) else HTTP,
    )

    body, _ = messages.sign_notice(notice, links=HTTP)

    heading = sign_texts.heading(notice, escape=False)
    assert "Lease & annex" in heading and "Lease &amp; annex" in body
    assert composed["Subject"] == heading
    for text in (body, composed["Subject"], composed.get_content()):
        assert "S-4" not in text and "D-1" not in text


def test_a_request_without_a_title_is_named_by_its_first_document() -> None:
    notice = _notice("approver")
    notice.request.title = ""

    assert sign_texts.heading(notice, escape=False) == "Acme <Law> prosi o zatwierdzenie: „Lease”"


def test_the_decision_deadline_and_the_codes_lifetime_are_written_for_the_reader() -> None:
    invite = _notice("signer")
    invite.party.language = "ru"
    invite.request.expires_at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    code = dataclasses.replace(_notice("signer", kind=Kind.SIGN_CODE), code="123456")

    assert "Просим принять решение до 25 ноября 2026, 12:00 UTC" in sign_texts.lines(
        invite, escape=False
    )
    assert sign_texts.lines(code, escape=True)[-1] == (
        "Kod wygasa za 10 minut. Nigdy nikomu go nie przekazuj."
    )
