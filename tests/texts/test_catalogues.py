"""The message catalogues: complete, consistent and safe to fill."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import texts
from texts import LANGUAGES, catalogue, text

PLACEHOLDER = re.compile(r"{(\w+)}")


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalogue_has_every_message_with_the_same_placeholders(language: str) -> None:
    english = catalogue("en")
    other = catalogue(language)
    assert set(other) == set(english)
    for key, message in english.items():
        assert set(PLACEHOLDER.findall(other[key])) == set(PLACEHOLDER.findall(message)), key


def test_values_are_escaped_for_html_but_not_for_mail() -> None:
    html = text("en", "documents.for", addressee="<b>Eve</b> & co")
    assert html == "for &lt;b&gt;Eve&lt;/b&gt; &amp; co"
    plain = text("en", "documents.for", escape=False, addressee="<b>Eve</b>")
    assert plain == "for <b>Eve</b>"


def test_an_unknown_language_speaks_english() -> None:
    assert text("de", "button.open") == text(None, "button.open") == "Open"
    assert text("pl", "button.open") == "Otwórz"


@pytest.mark.parametrize(
    ("language", "moment", "size"),
    [
        ("en", "23 December 2026, 12:00 UTC", "1.5 MB"),
        ("pl", "23 grudnia 2026, 12:00 UTC", "1,5 MB"),
        ("ru", "23 декабря 2026, 12:00 UTC", "1,5 МБ"),
        ("sv", "23 december 2026, 12:00 UTC", "1,5 MB"),
    ],
)
def test_dates_and_sizes_are_written_as_the_readers_locale_writes_them(
    language: str, moment: str, size: str
) -> None:
    assert texts.when(datetime(2026, 12, 23, 12, tzinfo=UTC), language) == moment
    assert texts.size(3 * 512 * 1024, language) == size


def test_small_sizes_and_unknown_languages() -> None:
    assert texts.size(12, "en") == "12 bytes"
    assert texts.size(2048, "de") == "2 kB"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("pl-PL,pl;q=0.9,en;q=0.8", "pl"),
        ("de-DE,ru;q=0.5,en;q=0.3", "ru"),
        ("sv_SE", "sv"),
        ("de, fr;q=0.9", None),
        ("en;q=0, ru;q=0.1", "ru"),
        ("", None),
        (None, None),
    ],
)
def test_a_browsers_wish_picks_the_nearest_language_we_speak(
    header: str | None, language: str | None
) -> None:
    assert texts.negotiate(header) == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_the_same_files_as_english(language: str) -> None:
    def files(lang: str) -> set[str]:
        return {p.name for p in (texts.CATALOGUES / lang).glob("*.json")}

    assert files(language) == files("en")
    assert (texts.CATALOGUES / language / "chat.json").exists()


def test_a_key_in_two_files_is_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "xx").mkdir()
    (tmp_path / "xx" / "a.json").write_text('{"k": "one"}')
    (tmp_path / "xx" / "b.json").write_text('{"k": "two"}')
    monkeypatch.setattr(texts, "CATALOGUES", tmp_path)
    texts.catalogue.cache_clear()
    try:
        with pytest.raises(ValueError, match="keys also in another file: k"):
            texts.catalogue("xx")
    finally:
        texts.catalogue.cache_clear()
