"""Templates with their fixed words written in give the very page the calls gave."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

import texts
from web_sign.pages import TEMPLATE_DIR, make_templates
from web_sign.templating import fixed_words

PAGE = """<p title="{{ t('test.awkward') }}">{{ t("test.awkward") }}</p>
  {{ t("doc.download") }}
<a aria-label="{{t('web.languages')}}">{{ t("doc.for", name=who) }}</a>
{% if who %}
  {{ t("test.braces") }}
{% endif %}
{{ t("doc.download") | upper }}
"""


@pytest.fixture
def odd_words(monkeypatch: pytest.MonkeyPatch) -> None:
    for language in texts.LANGUAGES:
        words = texts.catalogue(language)
        monkeypatch.setitem(words, "test.awkward", f'Tom & "Jerry\'s" <b> \\ ✓ {language}')
        monkeypatch.setitem(words, "test.braces", "a {{literal}} brace")


def plain(directory: Path) -> jinja2.Environment:
    """The environment pages had before: every word a call."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


@pytest.mark.usefixtures("odd_words")
@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_fixed_words_render_as_their_calls_did(tmp_path: Path, language: str) -> None:
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")

    def t(key: str, **values: object) -> str:
        return texts.text(language, key, escape=False, **values)

    context = {"t": t, "who": "Anna <Nowak>"}
    expected = plain(tmp_path).get_template("page.html").render(context)
    written = make_templates(url_prefix="", directory=tmp_path).get_template("page.html", language)
    assert written.render(context) == expected
    assert "&amp;" in expected and "Anna &lt;Nowak&gt;" in expected


def test_only_words_without_values_are_written_in() -> None:
    source = '{{ t("doc.download") }} {{ t("doc.for", name=x) }} {{ t("doc.download") | e }}'
    assert fixed_words(source, "pl") == (
        '{{ "Pobierz" }} {{ t("doc.for", name=x) }} {{ t("doc.download") | e }}'
    )


def test_a_language_inkpost_does_not_speak_gets_english(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('{{ t("doc.download") }}', encoding="utf-8")
    templates = make_templates(url_prefix="", directory=tmp_path)
    assert templates.get_template("page.html", "xx").render() == "Download"


@pytest.mark.parametrize("language", texts.LANGUAGES)
def test_every_page_template_compiles_with_its_words_written_in(language: str) -> None:
    templates = make_templates(url_prefix="")
    names = sorted(path.name for path in TEMPLATE_DIR.glob("*.html"))
    assert names
    for name in names:
        templates.get_template(name, language)
