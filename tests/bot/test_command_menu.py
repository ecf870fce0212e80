"""The bot's command menu: described in each recipient's language, within Telegram's limits.

The real python-telegram-bot client sets the menus on the fake Bot API, which keeps one
menu per (scope, language_code) and refuses what Telegram refuses.
"""

from __future__ import annotations

import logging
import re

import pytest
from telegram import Bot, MenuButtonCommands, MenuButtonWebApp

from bot.i18n import FALLBACK, LANGUAGES, catalogue, text
from bot.telegram import app as telegram_app
from bot.telegram import messages
from bot.telegram.app import COMMANDS, TelegramConfig, build_application, running
from tests.fakes.telegram_api import FakeTelegramApi
from workflows.context import Env

COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


async def _menus(bot: Bot) -> dict[str | None, dict[str, str]]:
    """What Telegram shows: the default menu (None) and the menu of each language."""
    menus: dict[str | None, dict[str, str]] = {}
    for language_code in (None, *LANGUAGES):
        commands = await bot.get_my_commands(language_code=language_code)
        menus[language_code] = {c.command: c.description for c in commands}
    return menus


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_command_is_described_within_telegrams_limits(language: str) -> None:
    for name in COMMANDS:
        assert COMMAND_NAME.fullmatch(name), name
        description = catalogue(language)[f"command.{name}"]
        assert 1 <= len(description) <= 256, (language, name)
        assert description.strip() == description
        assert description.lower() != name, (language, name)


async def test_every_language_gets_a_menu_in_its_own_words(
    telegram_api: FakeTelegramApi,
) -> None:
    async with telegram_api.bot() as bot:
        await telegram_app.set_command_menus(bot)
        menus = await _menus(bot)

    for language_code, menu in menus.items():
        language = language_code or FALLBACK
        assert list(menu) == list(COMMANDS), language_code
        for name, description in menu.items():
            assert description == text(language, f"command.{name}", escape=False)
            assert description.lower() != name
    assert menus[None] == menus["en"]
    assert menus["pl"]["documents"] == "Twoje dokumenty, od najnowszych"
    assert menus["ru"]["language"] == "Сменить язык"
    assert menus["sv"]["stop"] == "Koppla från chatten"
    described = [set(menu.values()) for menu in menus.values() if menu is not menus[None]]
    assert all(not a & b for i, a in enumerate(described) for b in described[i + 1 :])


async def test_a_menu_telegram_refuses_leaves_the_other_languages_set(
    telegram_api: FakeTelegramApi,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def too_long_in_russian(language: str | None, key: str, *, escape: bool = True) -> str:
        return "я" * 257 if language == "ru" else text(language, key, escape=escape)

    monkeypatch.setattr(telegram_app, "text", too_long_in_russian)
    async with telegram_api.bot() as bot:
        with caplog.at_level(logging.WARNING, logger=telegram_app.__name__):
            await telegram_app.set_command_menus(bot)
        menus = await _menus(bot)

    assert menus["ru"] == {}
    assert all(list(menus[code]) == list(COMMANDS) for code in (None, "en", "pl", "sv"))
    assert [r.getMessage() for r in caplog.records] == [
        "Telegram refused the ru command menu: Command description must be 1-256 characters"
    ]


async def test_the_running_bot_has_set_its_menus(env: Env, telegram_api: FakeTelegramApi) -> None:
    config = TelegramConfig(
        token=telegram_api.token,
        public_url="https://docs.example.test",
        max_upload_bytes=env.limits.max_upload_bytes,
        api_url=telegram_api.url,
        poll_timeout=1,
        rate_limit=False,
    )
    application, _ = build_application(config, env)
    async with running(application, config):
        menus = await _menus(application.bot)

    assert menus["pl"]["help"] == catalogue("pl")["command.help"]
    assert all(menus[code] for code in (None, *LANGUAGES))


def test_the_portal_is_a_menu_button_only_over_https() -> None:
    served = messages.portal_menu_button("https://docs.example.test/", "sv")
    assert isinstance(served, MenuButtonWebApp)
    assert served.web_app.url == "https://docs.example.test/me/telegram"
    assert served.text == text("sv", "portal.telegram.button", escape=False)
    assert isinstance(
        messages.portal_menu_button("http://127.0.0.1:8080", "sv"), MenuButtonCommands
    )
    assert messages.portal_app("http://127.0.0.1:8080") is None
