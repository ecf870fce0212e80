"""The dates a recipient reads in a mail or a Telegram message: written as their language
writes dates, on the clock of the organisation that writes to them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.mail import MailSender, SmtpConfig
from bot.telegram import messages
from storage.models import Document, Organization, Recipient, Share
from workflows.outbox.kinds import Kind
from workflows.sharing.notices import AccessNotice, ShareNotice

LINK = "https://docs.example.test/d/personal-token"
ENDS = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _rita(language: str) -> Recipient:
    return Recipient(
        org_id=1, client_id=1, name="Rita Recipient", email="rita@example.test", language=language
    )


def _office(zone: str) -> Organization:
    return Organization(slug="acme", name="Acme Law", timezone=zone)


def _share_notice(*, language: str, zone: str, kind: Kind = Kind.DOCUMENT_SHARED) -> ShareNotice:
    return ShareNotice(
        recipient=_rita(language),
        organization=_office(zone),
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
        ),  # fmt: skip
        share=Share(
            org_id=1, document_id=1, kind="recipient", token_hash="1" * 64, expires_at=ENDS
        ),
        shared_by="Stella Staff",
        kind=kind,
    )


def _mail() -> MailSender:
    return MailSender(SmtpConfig(host="127.0.0.1", port=25))


@pytest.mark.parametrize(
    ("language", "zone", "written"),
    [
        ("en", "UTC", "Available until 1 December 2026, 12:00 UTC"),
        ("pl", "Europe/Warsaw", "Dostępny do 1 grudnia 2026, 13:00 CET"),
        ("ru", "Europe/Moscow", "Доступен до 1 декабря 2026, 15:00 +0300"),
    ],
)
def test_a_share_mail_and_message_write_the_end_in_the_readers_words_and_the_offices_zone(
    language: str, zone: str, written: str
) -> None:
    notice = _share_notice(language=language, zone=zone)

    mail = str(_mail().compose(notice, link=LINK).get_content())
    chat, _ = messages.share_notice(notice, link=LINK)

    assert written in mail and written in chat
    assert "2026-12-01" not in mail + chat


def test_a_reminder_mail_in_polish_names_the_day_in_polish() -> None:
    notice = _share_notice(language="pl", zone="Europe/Warsaw", kind=Kind.AVAILABILITY_ENDING)

    reminder = _mail().compose(notice, link=LINK)

    assert reminder["Subject"] == (
        "Przypomnienie: Fee table 2027 jest dostępny do 1 grudnia 2026, 13:00 CET"
    )


def test_an_access_notice_in_russian_is_on_the_offices_clock() -> None:
    notice = AccessNotice(
        recipient=_rita("ru"), organization=_office("Europe/Moscow"), expires_at=ENDS
    )

    said = messages.access_notice(notice)
    mailed = _mail().compose_access(notice)

    assert "заканчивается 1 декабря 2026, 15:00 +0300." in said
    assert mailed["Subject"] == (
        "Ваш доступ к документам Acme Law заканчивается 1 декабря 2026, 15:00 +0300"
    )


def test_a_zone_this_system_does_not_know_falls_back_to_utc() -> None:
    notice = AccessNotice(
        recipient=_rita("sv"), organization=_office("Mars/Olympus"), expires_at=ENDS
    )

    assert "upphör 1 december 2026, 12:00 UTC." in messages.access_notice(notice)
