"""What a person types is shown to others without tricks: no direction overrides, no control
characters, no invisible formatting."""

from __future__ import annotations

import pytest

from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.people import recipients
from workflows.scope import clean_text


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("T evil\u202egpj.pdf", "T evilgpj.pdf"),
        ("\u2066Acme\u2069 \u200eLaw\u200f", "Acme Law"),
        ("Bell\x07 and\x00 nul", "Bell and nul"),
        ("two\nlines\tand  spaces", "two lines and spaces"),
        ("soft\u00adhyphen\ufeff", "softhyphen"),
        ("میخواهم", "میخواهم"),
        ("👩\u200d💻 Łukasz Żółć", "👩\u200d💻 Łukasz Żółć"),
    ],
)
def test_a_single_line_keeps_only_what_a_reader_sees(typed: str, shown: str) -> None:
    assert clean_text(typed, what="title", max_len=300) == shown


def test_a_message_keeps_its_lines_but_not_their_tricks() -> None:
    typed = " Dear client,\r\n\u202eplease\x1b[31m sign  \n\nThanks "

    assert clean_text(typed, what="message", max_len=2000, multiline=True) == (
        "Dear client,\nplease[31m sign\n\nThanks"
    )


def test_a_value_of_only_invisible_characters_is_empty() -> None:
    with pytest.raises(InvalidInput, match="title must not be empty"):
        clean_text("\u202e\u200f\x00 ", what="title", max_len=300)


async def test_titles_and_names_are_stored_as_shown(env: Env, tenant: Tenant) -> None:
    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, title="Invoice \u202efdp.exe"
    )
    person = await recipients.add_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        client_id=tenant.client_id,
        name="Jane\u202e Client",
    )

    assert document.title == "Invoice fdp.exe"
    assert person.name == "Jane Client"
