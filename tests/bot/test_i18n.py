"""The message catalogues: complete, consistent and safe to fill."""

from __future__ import annotations

import re

import pytest

from bot.i18n import LANGUAGES, catalogue, text

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
