"""One mapping answers every workflow refusal in Slack: whatever listener lets a
WorkflowError through, the person is told why, in the way that kind of request allows, and
nothing is logged as a failure."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import pytest

from bot.slack.blocks import WATCH_LINK
from bot.slack.features.directory import views as directory
from bot.slack.features.sharing.views import DOCUMENT, RECIPIENTS
from bot.slack.listeners import OUT_OF_REACH
from bot.slack.views import sentence
from storage.db import make_engine
from tests.conftest import STAFF
from tests.fakes.slack_api import JSON, find_element
from tests.scenarios.slack_stage import STELLA, Stage
from workflows import overview
from workflows.documents import search
from workflows.errors import Conflict, Unavailable
from workflows.people import organizations, recipients
from workflows.sharing import links, sharing, targets


def refusing(error: Exception) -> Any:
    async def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise error

    return refuse


async def out_of_reach() -> Exception:
    """What reading from a database that nobody listens for raises."""
    engine = make_engine("postgresql+asyncpg://inkpost@127.0.0.1:1/inkpost")
    try:
        async with engine.connect():
            pass
    except Exception as error:
        return error
    finally:
        await engine.dispose()
    raise AssertionError("something listens on port 1")


def failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def share_form(stage: Stage) -> JSON:
    await stage.slack.command(STELLA, "share")

    def loaded() -> JSON | None:
        views = stage.fake.open_views(STELLA)
        return views[-1] if views and find_element(views[-1]["blocks"], DOCUMENT) else None

    view: JSON = await stage.fake.wait_for(loaded, what="the share form")
    return view


async def test_a_subcommand_refused_unexpectedly_answers_one_ephemeral_line(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(overview, "overview", refusing(Unavailable("the database is busy")))

    answer = await stage.command(STELLA, "status")

    assert answer.text == "The database is busy"
    assert answer.body.get("response_type") == "ephemeral"
    assert failures(caplog) == []


async def test_a_button_refused_unexpectedly_answers_beside_the_message_it_is_on(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ref = await stage.document()
    link = await stage.command(STELLA, f"link {ref}")
    monkeypatch.setattr(links, "watch_unused", refusing(Conflict("the link is being changed")))
    before = len(stage.fake.responses)

    await stage.slack.block_action(
        STELLA,
        WATCH_LINK,
        message={**link.body, "ts": "1700000000.000300"},
        channel_id=stage.fake.dm_channel(STELLA),
    )
    await stage.fake.wait_for(lambda: len(stage.fake.responses) > before, what="a refusal")

    refusal = stage.fake.responses[-1]
    assert refusal.text == "The link is being changed"
    assert refusal.body.get("response_type") == "ephemeral"
    assert refusal.body.get("replace_original") is False
    assert failures(caplog) == []


async def busy() -> Exception:
    return Unavailable("the database is busy")


@pytest.mark.parametrize(
    ("failure", "told"),
    [(busy, "The database is busy"), (out_of_reach, sentence(OUT_OF_REACH))],
    ids=["refused", "store out of reach"],
)
async def test_a_form_refused_unexpectedly_stays_open_with_the_refusal_on_its_first_field(
    stage: Stage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[[], Awaitable[Exception]],
    told: str,
) -> None:
    ref = await stage.document()
    anna = await recipients.add_recipient(
        stage.env, org_id=stage.org_id, actor=STAFF, client_id=stage.client_id, name="Anna"
    )
    view = await share_form(stage)
    monkeypatch.setattr(targets, "check_targets", refusing(await failure()))

    response = await stage.slack.view_submission(
        STELLA, view, {DOCUMENT: ref, RECIPIENTS: [str(anna.id)]}
    )

    assert response.status == 200
    assert stage.fake.view_errors[-1] == (view["id"], {"document": told})
    assert await sharing.list_shares(stage.env, org_id=stage.org_id) == []
    assert failures(caplog) == []


async def test_a_search_refused_unexpectedly_offers_nothing(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await stage.document()
    view = await share_form(stage)
    monkeypatch.setattr(search, "find_documents", refusing(Unavailable("the index is rebuilt")))

    offered = await stage.slack.block_suggestion(STELLA, DOCUMENT, "fee", view=view)

    assert offered == {"options": []}
    assert failures(caplog) == []


async def test_a_form_refused_after_it_closed_tells_the_person_in_a_direct_message(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    listed = await stage.command(STELLA, "clients")
    before = len(stage.fake.views)
    await stage.slack.block_action(
        STELLA,
        directory.CLIENT_ADD,
        message={**listed.body, "ts": "1700000000.000400"},
        channel_id=stage.fake.dm_channel(STELLA),
    )
    await stage.fake.wait_for(lambda: len(stage.fake.views) > before, what="the client form")
    [form] = stage.fake.open_views(STELLA)
    monkeypatch.setattr(organizations, "list_clients", refusing(Unavailable("the list is busy")))

    response = await stage.slack.view_submission(STELLA, form, {directory.NAME: "Baltic Steel"})
    [told] = await stage.fake.wait_for_messages(stage.fake.dm_channel(STELLA))

    assert response.status == 200 and stage.fake.open_views(STELLA) == []
    assert told.text == "The list is busy"
    monkeypatch.undo()
    names = [c.name for c in await organizations.list_clients(stage.env, org_id=stage.org_id)]
    assert names == ["Nordic Timber", "Baltic Steel"]
    assert failures(caplog) == []


async def test_a_subcommand_meeting_the_store_out_of_reach_says_to_try_again_later(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(overview, "overview", refusing(await out_of_reach()))

    with caplog.at_level(logging.INFO, logger="bot"):
        answer = await stage.command(STELLA, "status")

    assert answer.text == sentence(OUT_OF_REACH)
    assert answer.body.get("response_type") == "ephemeral"
    assert failures(caplog) == []
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warned] == [
        "a Slack command failed, a connection failed: ConnectionRefusedError"
    ]
    assert warned[0].exc_info is None
