"""One mapping answers every workflow refusal in Telegram: whatever handler lets a
WorkflowError through, the person gets one short sentence in their language — an alert on
the button they pressed, or a message — and the log keeps nothing they sent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

from bot.i18n import text
from bot.telegram.refusals import STORE_DOWN
from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from tests.conftest import STAFF, Tenant
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.telegram_state import TgUser
from tests.scenarios.test_telegram import CARL, RITA, Stage, staged
from workflows import platform
from workflows.context import Env
from workflows.errors import Conflict, Unavailable
from workflows.people import linking, recipients
from workflows.sharing import inbox


@pytest.fixture
async def stage(env: Env, telegram_api: FakeTelegramApi, tenant: Tenant) -> AsyncIterator[Stage]:
    async with staged(env, telegram_api, tenant) as ready:
        yield ready


def refusing(error: Exception) -> Any:
    async def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise error

    return refuse


async def swedish(stage: Stage) -> None:
    """Sven, who reads Swedish, linked in chat CARL."""
    sven = await recipients.add_recipient(
        stage.env,
        org_id=stage.tenant.org_id,
        actor=STAFF,
        client_id=stage.tenant.client_id,
        name="Sven Svensson",
        language="sv",
    )
    assert sven.id is not None
    await stage.link(sven.id, CARL)


def logged_by_the_bot(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))


async def test_a_command_refused_unexpectedly_is_told_in_the_recipients_language(
    stage: Stage, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await swedish(stage)
    monkeypatch.setattr(inbox, "list_for_chat", refusing(Unavailable("the archive is busy")))

    with caplog.at_level(logging.DEBUG, logger="bot"):
        said = await stage.say(CARL, "/documents")

    assert said == text("sv", "sign.refused", escape=False, reason="the archive is busy")
    assert "Unavailable" in logged_by_the_bot(caplog)
    assert "the archive is busy" not in logged_by_the_bot(caplog)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_button_refused_unexpectedly_answers_with_an_alert_in_that_language(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    await swedish(stage)
    await stage.say(CARL, "/notifications")
    toggles = stage.fake.messages_to(CARL)[-1]
    monkeypatch.setattr(inbox, "set_notification", refusing(Conflict("a change is under way")))

    await stage.press(CARL, toggles.message_id, "nt:0:0")

    answer = stage.fake.callback_answers[-1]
    assert answer.show_alert
    assert answer.text == text("sv", "sign.refused", escape=False, reason="a change is under way")


async def test_a_press_answered_before_the_refusal_gets_it_as_a_message(stage: Stage) -> None:
    await stage.link(stage.tenant.recipient_id, RITA)
    for n in range(7):
        await stage.share(stage.tenant.recipient_id, title=f"Statement {n}")
    await stage.say(RITA, "/documents")
    listing = stage.fake.messages_to(RITA)[-1]
    await linking.unlink_chat(stage.env, chat_id=RITA)
    before = len(stage.fake.messages_to(RITA))

    await stage.press(RITA, listing.message_id, "pg:2:0")
    await stage.fake.wait_for(lambda: len(stage.fake.messages_to(RITA)) > before)

    assert stage.fake.messages_to(RITA)[-1].text == text("en", "not_linked", escape=False)
    assert "page 2" not in (stage.fake.current_message(RITA, listing.message_id) or {})["text"]


async def test_an_invitation_refused_logs_neither_its_code_nor_its_reason(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    code = "not-a-real-code-314159"

    with caplog.at_level(logging.DEBUG, logger="bot"):
        said = await stage.say(CARL, f"/start {code}")

    assert said == text("en", "start.invalid", escape=False)
    assert "NotFound" in logged_by_the_bot(caplog)
    assert code not in logged_by_the_bot(caplog)
    assert "not valid" not in logged_by_the_bot(caplog)


@pytest.fixture
async def cut_store(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[[], None]]:
    """Called, it makes every update's first step (is it new?) read from a database that
    nobody listens for."""
    engine = make_engine("postgresql+asyncpg://inkpost@127.0.0.1:1/inkpost")
    unreachable = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(Path("/none")))
    first_delivery = platform.first_delivery

    async def down(env: Env, **kwargs: Any) -> bool:
        return await first_delivery(unreachable, **kwargs)

    yield lambda: monkeypatch.setattr(platform, "first_delivery", down)
    await engine.dispose()


async def test_a_command_meeting_the_store_out_of_reach_is_told_to_try_again_later(
    stage: Stage, cut_store: Callable[[], None], caplog: pytest.LogCaptureFixture
) -> None:
    before = len(stage.fake.messages_to(CARL))
    cut_store()

    with caplog.at_level(logging.DEBUG, logger="bot"):
        stage.fake.user_sends_text(CARL, "/documents", user=TgUser(id=CARL, language_code="sv"))
        await stage.fake.wait_for(lambda: len(stage.fake.messages_to(CARL)) > before)

    assert stage.fake.messages_to(CARL)[-1].text == text("sv", STORE_DOWN, escape=False)
    said = [r for r in caplog.records if r.name.startswith("bot.")]
    assert [r.levelno for r in said] == [logging.WARNING]
    assert said[0].getMessage() == (
        "a telegram update failed, a connection failed: ConnectionRefusedError"
    )
    assert said[0].exc_info is None


async def test_a_button_meeting_the_store_out_of_reach_answers_with_an_alert(
    stage: Stage, cut_store: Callable[[], None]
) -> None:
    await swedish(stage)
    await stage.say(CARL, "/notifications")
    toggles = stage.fake.messages_to(CARL)[-1]
    cut_store()

    await stage.press(CARL, toggles.message_id, "nt:0:0")

    answer = stage.fake.callback_answers[-1]
    assert answer.show_alert
    assert answer.text == text("en", STORE_DOWN, escape=False)
