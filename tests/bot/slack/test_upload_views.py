"""The upload modal and its messages are Block Kit that Slack accepts, whatever the files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.slack.features.upload import views
from bot.slack.features.upload.views import Outcome, PickedFile
from storage.models import Client, Document
from tests.fakes.slack_blocks import check_message_blocks, check_view
from workflows.errors import InvalidInput

CATEGORIES = ["contract", "fee table"]


def _clients(count: int) -> list[Client]:
    return [Client(id=n, org_id=1, name=f"Client {n}") for n in range(1, count + 1)]


def _many_files() -> list[PickedFile]:
    """As many files as a message holds, with the longest names Slack keeps, not in ASCII."""
    return [
        PickedFile(id=f"F{n:010d}", name="Vertrag-Überprüfung-" * 12 + ".pdf") for n in range(10)
    ]


def test_the_empty_form_has_a_file_input_and_is_a_valid_modal() -> None:
    view = views.upload_modal(files=(), categories=CATEGORIES, clients=_clients(2), max_mb=50)

    assert check_view(view, allowed=("modal",)) == []
    kinds = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert kinds[views.FILE] == "file_input" and kinds[views.CLIENT] == "static_select"
    assert view["private_metadata"] == ""


def test_the_form_for_many_long_named_files_fits_slacks_limits() -> None:
    files = _many_files()

    view = views.upload_modal(files=files, categories=CATEGORIES, clients=None, max_mb=50)

    assert check_view(view, allowed=("modal",)) == []
    titles = [b for b in view["blocks"] if b.get("block_id", "").startswith(views.TITLE_PREFIX)]
    assert len(titles) == 10
    assert views.decode_files(view["private_metadata"])[0].id == files[0].id
    client = next(b for b in view["blocks"] if b.get("block_id") == views.CLIENT)
    assert client["element"]["type"] == "external_select"


def test_the_dm_offer_carries_the_files_in_its_button() -> None:
    files = _many_files()

    message = views.files_received_message(files)

    assert check_message_blocks(message["blocks"]) == []
    button = message["blocks"][1]["elements"][0]
    assert [f.id for f in views.decode_files(button["value"])] == [f.id for f in files]


@pytest.mark.parametrize("text", ["", "nonsense", "[]", '[["F1"]]', '{"files": 1}'])
def test_a_form_that_names_no_files_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="does not name any file"):
        views.decode_files(text)


def test_results_name_each_document_and_escape_what_people_typed() -> None:
    document = Document(
        org_id=1,
        number=7,
        client_id=1,
        title="Fees <2027> & more",
        category="fee table",
        filename="fees.pdf",
        media_type="application/pdf",
        size=12_345,
        sha256="0" * 64,
        blob_key="k",
        page_count=1,
        created_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    outcomes = [
        Outcome("fees.pdf", document=document),
        Outcome("<setup>.exe", problem="this kind of file is not accepted"),
    ]

    message = views.result_message(outcomes)

    assert check_message_blocks(message["blocks"]) == []
    shown = str(message["blocks"])
    assert "*D-7* Fees &lt;2027&gt; &amp; more" in shown and "1 page ·" in shown
    assert "&lt;setup&gt;.exe* was not saved. This kind of file" in shown
    assert message["text"].startswith("Saved D-7 “Fees <2027> & more”")
