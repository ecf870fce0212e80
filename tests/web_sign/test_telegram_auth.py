"""Mini App launch data: accepted only when signed for our bot, complete and recent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from tests.web_sign.signing_helpers import BOT_TOKEN, init_data
from web_sign.telegram_auth import (
    FUTURE_SKEW,
    InitDataInvalid,
    signature,
    validate_init_data,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _check(data: str, *, bot_token: str = BOT_TOKEN, now: datetime = NOW) -> object:
    return validate_init_data(data, bot_token=bot_token, now=now)


def _replace(data: str, **changes: str) -> str:
    """The same launch data with some fields changed and the hash left as it was."""
    fields = dict(parse_qsl(data, keep_blank_values=True))
    fields.update(changes)
    return urlencode(fields)


def test_valid_data_names_the_user_and_the_start_parameter() -> None:
    data = init_data(user_id=5550001, start_param="tok_123", at=NOW - timedelta(hours=23))

    launch = validate_init_data(data, bot_token=BOT_TOKEN, now=NOW)

    assert launch.user.id == 5550001
    assert launch.user.name == "Rita Recipient"
    assert launch.user.username == "rita_r"
    assert launch.start_param == "tok_123"
    assert launch.auth_date == NOW - timedelta(hours=23)
    assert launch.query_id == "AAHdF6IQAAAAAN0XohDhrOrc"


def test_the_hash_follows_telegrams_documented_recipe() -> None:
    """Computed independently of ``signature`` from the steps Telegram publishes."""
    import hashlib
    import hmac

    fields = {"auth_date": "1795000000", "user": '{"id":1,"first_name":"A"}', "query_id": "Q"}
    check = 'auth_date=1795000000\nquery_id=Q\nuser={"id":1,"first_name":"A"}'
    key = hmac.new(b"WebAppData", BOT_TOKEN.encode(), hashlib.sha256).digest()

    assert signature(fields, bot_token=BOT_TOKEN) == (
        hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
    )


@pytest.mark.parametrize(
    "change",
    [
        {"user": json.dumps({"id": 666, "first_name": "Mallory"})},
        {"start_param": "someone_elses_token"},
        {"auth_date": str(int(NOW.timestamp()))},
        {"extra": "added"},
    ],
)
def test_a_tampered_field_is_refused(change: dict[str, str]) -> None:
    data = _replace(init_data(at=NOW - timedelta(hours=2)), **change)

    with pytest.raises(InitDataInvalid, match="not signed by this bot"):
        _check(data)


def test_a_wrong_hash_is_refused() -> None:
    data = _replace(init_data(at=NOW), hash="0" * 64)

    with pytest.raises(InitDataInvalid, match="not signed by this bot"):
        _check(data)


@pytest.mark.parametrize("bad", ["ABC", "g" * 64, "0" * 63, "é" * 64])
def test_a_malformed_hash_is_refused(bad: str) -> None:
    with pytest.raises(InitDataInvalid, match="hash is malformed"):
        _check(_replace(init_data(at=NOW), hash=bad))


def test_missing_hash_is_refused() -> None:
    fields = dict(parse_qsl(init_data(at=NOW)))
    del fields["hash"]

    with pytest.raises(InitDataInvalid, match="carries no hash"):
        _check(urlencode(fields))


def test_data_signed_for_another_bot_is_refused() -> None:
    data = init_data(at=NOW, bot_token="999999:another-bots-token")

    with pytest.raises(InitDataInvalid, match="not signed by this bot"):
        _check(data)


def test_data_older_than_a_day_is_refused() -> None:
    data = init_data(at=NOW - timedelta(days=1, seconds=1))

    with pytest.raises(InitDataInvalid, match="older than a day"):
        _check(data)
    assert _check(init_data(at=NOW - timedelta(days=1)))


def test_a_little_clock_skew_is_tolerated_but_not_a_future_date() -> None:
    assert _check(init_data(at=NOW + FUTURE_SKEW))

    with pytest.raises(InitDataInvalid, match="dated in the future"):
        _check(init_data(at=NOW + FUTURE_SKEW + timedelta(seconds=1)))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "missing or too long"),
        ("x" * 9000, "missing or too long"),
        ("no-equals-sign", "not a query string"),
    ],
)
def test_malformed_data_is_refused(data: str, message: str) -> None:
    with pytest.raises(InitDataInvalid, match=message):
        _check(data)


def test_a_repeated_field_is_refused() -> None:
    data = init_data(at=NOW)

    with pytest.raises(InitDataInvalid, match="repeats a field"):
        _check(data + "&auth_date=1")


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (None, "names no user"),
        ("{not json", "user is not JSON"),
        ("[1, 2]", "user is not an object"),
        ('{"first_name": "A"}', "user has no valid id"),
        ('{"id": "42"}', "user has no valid id"),
        ('{"id": true}', "user has no valid id"),
        ('{"id": -5}', "user has no valid id"),
    ],
)
def test_a_signed_but_unusable_user_is_refused(user: str | None, message: str) -> None:
    fields = {"auth_date": str(int(NOW.timestamp()))}
    if user is not None:
        fields["user"] = user
    fields["hash"] = signature(fields, bot_token=BOT_TOKEN)

    with pytest.raises(InitDataInvalid, match=message):
        _check(urlencode(fields))


@pytest.mark.parametrize("auth_date", [None, "yesterday", "-5", "99999999999999999999"])
def test_a_signed_but_unusable_auth_date_is_refused(auth_date: str | None) -> None:
    fields = {"user": '{"id": 1, "first_name": "A"}'}
    if auth_date is not None:
        fields["auth_date"] = auth_date
    fields["hash"] = signature(fields, bot_token=BOT_TOKEN)

    with pytest.raises(InitDataInvalid, match="no valid auth_date"):
        _check(urlencode(fields))
