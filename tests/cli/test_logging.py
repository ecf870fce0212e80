"""Secrets never reach the logs the server writes."""

from __future__ import annotations

import logging

import pytest

from inkpost import server


def test_request_urls_with_bot_tokens_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    server.configure_logging()
    secret_url = "http://127.0.0.1:9/bot123456:SECRET-TOKEN/getUpdates"
    with caplog.at_level(logging.INFO):
        # What httpx (under python-telegram-bot) logs for every Bot API call.
        logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', secret_url)
    assert "SECRET-TOKEN" not in caplog.text


def test_statements_and_their_parameters_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    server.configure_logging()
    with caplog.at_level(logging.DEBUG):
        # What aiosqlite logs for every statement, a one-time code among its parameters.
        logging.getLogger("aiosqlite").debug("executing %s", ("INSERT", '{"code": "482913"}'))
        logging.getLogger("sqlalchemy.engine.Engine").info("[generated] ('482913',)")
    assert "482913" not in caplog.text
