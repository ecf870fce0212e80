"""The page templates in each language, with their fixed words written in.

A template prints its words through ``t``: ``{{ t("doc.download") }}``. Where a word has no
values, its text in a language never changes, yet every render would call ``t`` through
Jinja's context and escape what it returns; a signing page has thirty such words. So each
language has an environment of its own whose loader writes every such word into the
template's source as a string literal, ``{{ "Download" }}``, which Jinja turns into plain
text of the compiled template (escaped as the call's result would have been). Words with
values (``t("doc.for", name=...)``) stay calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import jinja2

import texts

FIXED_WORD = re.compile(r"""\{\{\s*t\(\s*(["'])([\w.]+)\1\s*\)\s*\}\}""")
"""``{{ t("key") }}`` or ``{{ t('key') }}``, alone in its output tag."""


def fixed_words(source: str, language: str) -> str:
    """``source`` with each fixed word (`FIXED_WORD`) as a literal of its text in
    ``language``: what ``t`` would have returned, as a JSON string (a valid Jinja one)."""

    def literal(match: re.Match[str]) -> str:
        text = texts.text(language, match.group(2), escape=False)
        return "{{ " + json.dumps(text) + " }}"

    return FIXED_WORD.sub(literal, source)


class WordsLoader(jinja2.FileSystemLoader):
    """Templates from ``directory`` with their fixed words in ``language``."""

    def __init__(self, directory: Path, language: str) -> None:
        super().__init__(directory)
        self.language = language

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        return fixed_words(source, self.language), filename, uptodate


class Templates:
    """The templates of every language (`texts.LANGUAGES`), an environment for each."""

    def __init__(self, environments: Mapping[str, jinja2.Environment]) -> None:
        self.environments = dict(environments)

    def get_template(self, name: str, language: str) -> jinja2.Template:
        """Template ``name`` with its fixed words in ``language`` (English when Inkpost
        does not speak it, as ``t`` falls back)."""
        return self.environments[texts.known(language)].get_template(name)
