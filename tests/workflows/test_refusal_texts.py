"""A refusal a client may meet names its sentence in the catalogues: staff and logs keep the
English message, the client is told the same reason in their language, with sizes and
kinds of file written as that language writes them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inkpost.sample_pdf import make_pdf
from storage.models import Document
from tests.conftest import STAFF, Tenant
from tests.helpers import chunks, count_rows, stored_notifications, upload
from workflows.context import Env
from workflows.documents import filing
from workflows.errors import InvalidInput, NotAllowed, NotFound, Phrase, Size
from workflows.outbox.kinds import Via
from workflows.people import preferences, recipients
from workflows.people.organizations import check_email
from workflows.portal import sessions
from workflows.sharing.access import Visitor

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("language", "told"),
    [
        ("en", "the file is larger than the limit of 1.5 MB"),
        ("pl", "plik przekracza dopuszczalny rozmiar 1,5 MB"),
        ("ru", "файл больше допустимого размера (1,5 МБ)"),
        ("sv", "filen är större än gränsen på 1,5 MB"),
        ("de", "the file is larger than the limit of 1.5 MB"),
    ],
)
def test_a_size_is_written_for_the_reader_when_the_refusal_is_told(
    language: str, told: str
) -> None:
    error = InvalidInput(
        "file is too large", says="refusal.file.too_large", limit=Size(3 * MB // 2)
    )

    assert error.told(language) == told
    assert str(error) == "file is too large"


def test_a_phrase_is_told_in_the_readers_language_and_a_plain_value_as_it_is() -> None:
    error = InvalidInput(
        "misnamed", says="refusal.file.misnamed", filename="umowa.pdf",
        named=Phrase("refusal.kind.pdf"), actual=Phrase("refusal.kind.png"),
    )  # fmt: skip

    assert error.told("pl") == (
        "nazwa „umowa.pdf” wskazuje na dokument PDF, ale w środku jest obraz PNG: "
        "zmień nazwę pliku albo wyślij właściwy plik"
    )
    assert error.told("sv").startswith("”umowa.pdf” har ett namn som för en PDF, men")


def test_a_refusal_without_a_sentence_is_told_in_english() -> None:
    assert NotFound("document D-7 not found").told("ru") == "document D-7 not found"


async def test_a_file_over_the_limit_is_refused_in_the_readers_words_and_kept_nowhere(
    env: Env, tenant: Tenant
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await upload(
            env, org_id=tenant.org_id, client_id=tenant.client_id, data=b"x" * (2 * MB + 1)
        )

    assert str(refused.value) == "file is larger than the limit of 2 MB"
    assert refused.value.told("sv") == "filen är större än gränsen på 2 MB"
    assert await count_rows(env, Document) == 0


async def test_a_file_named_as_another_kind_names_both_kinds_in_russian(
    env: Env, tenant: Tenant
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await filing.upload_document(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            meta=filing.NewDocument(
                title="Scan", category="other", client_id=tenant.client_id, filename="scan.png"
            ),
            content=chunks(make_pdf("Scan")),
        )

    assert "'scan.png' is named as a PNG image but its content is a PDF" in str(refused.value)
    assert refused.value.told("ru") == (
        "судя по имени, «scan.png» — это изображение PNG, но на самом деле это PDF-документ: "
        "переименуйте файл или отправьте нужный"
    )


@pytest.mark.parametrize(
    ("refuse", "english", "polish"),
    [
        (
            lambda: recipients.check_language("xx"),
            "language must be one of en, pl, ru, sv, not 'xx'",
            "wybierz jeden z tych języków: English, Polski, Русский, Svenska",
        ),
        (
            lambda: check_email("rita at home"),
            "'rita at home' is not an email address",
            "„rita at home” nie jest adresem e-mail",
        ),
        (
            lambda: preferences.changed({}, channel=Via.EMAIL, kind="gossip", enabled=False),
            "unknown kind of notification 'gossip'",
            "nie ma takiego rodzaju powiadomień",
        ),
        (
            lambda: preferences.changed({}, channel="pigeon", kind="reminder", enabled=False),  # type: ignore[arg-type]
            "unknown channel 'pigeon'",
            "tą drogą nie można wysyłać powiadomień",
        ),
    ],
)
def test_choices_a_recipient_makes_are_refused_in_their_language(
    refuse: Callable[[], object], english: str, polish: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        refuse()

    assert str(refused.value) == english
    assert refused.value.told("pl") == polish


async def test_a_sign_in_link_of_a_recipient_blocked_since_says_why_in_swedish(
    env: Env, tenant: Tenant
) -> None:
    await sessions.request_sign_in(env, email="rita@acme-client.test", ip=None)
    [asked] = await stored_notifications(env)
    link = await sessions.mint_sign_in(env, request_id=asked.payload["request_id"])
    assert link is not None
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )

    with pytest.raises(NotAllowed) as refused:
        await sessions.redeem_sign_in(env, link.token, visitor=Visitor())

    assert str(refused.value).startswith("recipient Rita Recipient is blocked")
    assert refused.value.told("sv") == (
        "din åtkomst till dokumenten har upphört; kontakta organisationen som skickade dem till dig"
    )
