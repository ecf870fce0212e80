"""The mail fallback says what the Telegram notice says, in the recipient's language."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.mail import MailSender, SmtpConfig
from storage.models import Document, Organization, Recipient, Share
from tests.fakes.smtp import SmtpServer
from workflows.sharing.notices import ShareNotice

LINK = "https://docs.example.test/d/personal-token"


def _notice(*, message: str | None, language: str = "en") -> ShareNotice:
    return ShareNotice(
        recipient=Recipient(
            org_id=1,
            client_id=1,
            name="Rita Recipient",
            email="rita@example.test",
            language=language,
        ),
        organization=Organization(slug="acme", name="Acme Law"),
        document=Document(
            org_id=1,
            number=3,
            client_id=1,
            title="Fee table 2027",
            category="contract",
            filename="fees.pdf",
            media_type="application/pdf",
            size=1,
            sha256="0" * 64,
            blob_key="0" * 64,
        ),
        share=Share(
            org_id=1,
            document_id=1,
            kind="recipient",
            token_hash="1" * 64,
            message=message,
            expires_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        ),
        shared_by="Stella Staff",
    )


def _body(notice: ShareNotice) -> str:
    composed = MailSender(SmtpConfig(host="127.0.0.1", port=25)).compose(notice, link=LINK)
    return str(composed.get_content())


def test_the_staff_message_travels_with_the_mail() -> None:
    body = _body(_notice(message="Please sign {by} Friday"))

    assert "Message: Please sign {by} Friday" in body
    assert LINK in body and "Available until 1 December 2026, 12:00 UTC" in body


def test_no_message_line_without_a_message() -> None:
    assert "Message:" not in _body(_notice(message=None))


@pytest.mark.parametrize(("language", "label"), [("pl", "Wiadomość"), ("sv", "Meddelande")])
def test_the_message_line_is_in_the_recipients_language(language: str, label: str) -> None:
    body = _body(_notice(message="Bitte", language=language))

    assert f"{label}: Bitte" in body


async def test_a_long_subject_in_cyrillic_keeps_its_spaces(smtp_server: SmtpServer) -> None:
    mail = MailSender(SmtpConfig(host=smtp_server.host, port=smtp_server.port))
    notice = _notice(message=None, language="ru")
    notice.document.title = "Договор о сотрудничестве и обслуживании на 2027 год"

    await mail.send(mail.compose(notice, link=LINK), to="rita@example.test")

    [received] = await smtp_server.wait_for(1)
    assert received["Subject"] == (
        "Новый документ от Acme Law: Договор о сотрудничестве и обслуживании на 2027 год"
    )
    assert smtp_server.envelopes[-1][1] == ["rita@example.test"]
