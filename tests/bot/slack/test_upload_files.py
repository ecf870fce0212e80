"""Fetching Slack files for upload, and reading the submitted form, apart from Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from bot.slack.features.upload import views
from bot.slack.features.upload.upload import SlackFile, Uploads, download, read_form
from storage.models import Organization
from tests.fakes.slack_api import FakeSlackApi
from workflows.context import Env
from workflows.errors import NotAllowed, NotFound, Unavailable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MB = 1024 * 1024


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _read(http: aiohttp.ClientSession, file: SlackFile, token: str) -> bytes:
    assert file.url is not None
    async with download(http, file, url=file.url, token=token) as content:
        return b"".join([chunk async for chunk in content])


async def test_a_file_is_fetched_with_the_bot_token(
    slack_api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    slack_api.add_user("U1", "una")
    file = SlackFile.of(slack_api.user_uploads_file("U1", "a.txt", b"hello", "text/plain"))

    assert await _read(http, file, slack_api.token) == b"hello"


async def test_a_token_slack_does_not_accept_is_refused(
    slack_api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    slack_api.add_user("U1", "una")
    file = SlackFile.of(slack_api.user_uploads_file("U1", "a.txt", b"hello", "text/plain"))

    with pytest.raises(NotAllowed, match="Slack did not let me download the file"):
        await _read(http, file, "xoxb-not-the-bot")


async def test_slacks_sign_in_page_is_not_taken_for_the_file(
    slack_api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    file = SlackFile(id="F1", name="a.pdf", url=f"{slack_api.url}/", mimetype="application/pdf")

    with pytest.raises(NotAllowed):
        await _read(http, file, slack_api.token)


async def test_a_deleted_file_is_not_found(
    slack_api: FakeSlackApi, http: aiohttp.ClientSession
) -> None:
    slack_api.add_user("U1", "una")
    file = SlackFile.of(slack_api.user_uploads_file("U1", "a.txt", b"hello", "text/plain"))
    slack_api.user_deletes_file(file.id)

    with pytest.raises(NotFound, match="no longer in Slack"):
        await _read(http, file, slack_api.token)


async def test_slack_out_of_reach_is_unavailable(http: aiohttp.ClientSession) -> None:
    file = SlackFile(id="F1", name="a.pdf", url="http://127.0.0.1:9/files-pri/T-F1/download/a")

    with pytest.raises(Unavailable, match="could not reach Slack"):
        await _read(http, file, "xoxb-1")


@pytest.mark.parametrize(
    "url",
    ["https://files.example.com/files-pri/T1-F1/download/a.pdf", "file:///etc/passwd", None],
)
def test_the_bot_token_is_sent_only_to_slack(env: Env, url: str | None) -> None:
    uploads = Uploads(env, api_url="http://127.0.0.1:8123/api/")

    with pytest.raises(Unavailable, match="no download address"):
        uploads.download_url(SlackFile(id="F1", name="a.pdf", url=url))
    ok = "https://files.slack.com/files-pri/T1-F1/download/a.pdf"
    assert uploads.download_url(SlackFile(id="F1", name="a.pdf", url=ok)) == ok


def _view(**values: dict[str, Any]) -> dict[str, Any]:
    state = {block_id: {block_id: entry} for block_id, entry in values.items()}
    files = views.encode_files([views.PickedFile("F1", "a.pdf")])
    return {"private_metadata": files, "state": {"values": state}}


def _organization(timezone: str) -> Organization:
    return Organization(id=1, slug="acme", name="Acme", timezone=timezone)


def test_picked_days_are_whole_days_in_the_organisations_time_zone() -> None:
    view = _view(
        **{
            views.title_block(0): {"type": "plain_text_input", "value": " Letter "},
            views.CATEGORY: {"selected_option": {"value": "contract"}},
            views.CLIENT: {"selected_option": {"value": "3"}},
            views.FROM: {"type": "datepicker", "selected_date": "2026-12-01"},
            views.UNTIL: {"type": "datepicker", "selected_date": "2026-12-01"},
        }
    )

    form, errors = read_form(
        view, organization=_organization("Europe/Berlin"), now=NOW, max_bytes=MB
    )

    assert errors == {} and form is not None
    assert [title for _, title in form.files] == ["Letter"]
    assert form.client_id == 3 and form.category == "contract"
    assert form.available_from == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert form.available_until == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


def test_every_bad_field_is_named_at_once() -> None:
    view = _view(
        **{
            views.title_block(0): {"type": "plain_text_input", "value": "x" * 301},
            views.CATEGORY: {"selected_option": {"value": "poetry"}},
            views.CLIENT: {"selected_option": {"value": "abc"}},
        }
    )

    form, errors = read_form(view, organization=_organization("UTC"), now=NOW, max_bytes=MB)

    assert form is None
    assert errors == {
        views.title_block(0): "Title is longer than 300 characters",
        views.CATEGORY: "Unknown category 'poetry'; this organisation uses: "
        "contract, annex, fee table, invoice, statement, other",
        views.CLIENT: "Pick a client from the list",
    }
