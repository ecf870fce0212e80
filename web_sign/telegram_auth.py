"""Checking the ``initData`` Telegram hands a Mini App, exactly as Telegram documents it.

Telegram signs the launch data with a key derived from the bot's token::

    secret_key = HMAC_SHA256(key="WebAppData", msg=bot_token)
    hash       = hex(HMAC_SHA256(key=secret_key, msg=data_check_string))

where ``data_check_string`` is every received field except ``hash``, as ``key=value``
lines sorted by key and joined with ``\\n``. Only the bot's owner can compute the hash, so
a valid one means Telegram vouches for the user it names. Data older than ``MAX_AGE`` is
refused: a copied launch URL must not sign in forever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

MAX_AGE = timedelta(days=1)
FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of our clock ``auth_date`` may be (clocks differ a little)."""
MAX_INIT_DATA = 8192
HEX_HASH = re.compile(r"^[0-9a-f]{64}$")


class InitDataInvalid(ValueError):
    """The launch data is malformed, forged, or too old; the message says which."""


@dataclass(frozen=True)
class TelegramUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass(frozen=True)
class WebAppLaunch:
    """What validated ``initData`` tells us: who opened the app, when, and with what."""

    user: TelegramUser
    auth_date: datetime
    start_param: str | None = None
    query_id: str | None = None


def validate_init_data(
    init_data: str,
    *,
    bot_token: str,
    now: datetime,
    max_age: timedelta = MAX_AGE,
    future_skew: timedelta = FUTURE_SKEW,
) -> WebAppLaunch:
    """The launch data if Telegram signed it for ``bot_token`` within ``max_age`` of
    ``now``; raises ``InitDataInvalid`` otherwise."""
    fields = _fields(init_data)
    received = fields.pop("hash", None)
    if received is None:
        raise InitDataInvalid("the launch data carries no hash")
    if not HEX_HASH.match(received):
        raise InitDataInvalid("the launch data's hash is malformed")
    if not hmac.compare_digest(signature(fields, bot_token=bot_token), received):
        raise InitDataInvalid("the launch data was not signed by this bot")
    auth_date = _auth_date(fields.get("auth_date"))
    if auth_date > now + future_skew:
        raise InitDataInvalid("the launch data is dated in the future")
    if now - auth_date > max_age:
        raise InitDataInvalid("the launch data is older than a day")
    return WebAppLaunch(
        user=_user(fields.get("user")),
        auth_date=auth_date,
        start_param=fields.get("start_param") or None,
        query_id=fields.get("query_id") or None,
    )


def signature(fields: dict[str, str], *, bot_token: str) -> str:
    """The hex hash Telegram puts on ``fields`` (everything but ``hash`` itself)."""
    data_check_string = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")
    secret_key = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    return hmac.new(secret_key, data_check_string.encode(), hashlib.sha256).hexdigest()


def _fields(init_data: str) -> dict[str, str]:
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise InitDataInvalid("the launch data is missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError as e:
        raise InitDataInvalid("the launch data is not a query string") from e
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataInvalid("the launch data repeats a field")
    return fields


def _auth_date(value: str | None) -> datetime:
    if value is None or not value.isdigit():
        raise InitDataInvalid("the launch data has no valid auth_date")
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (OverflowError, OSError, ValueError) as e:
        raise InitDataInvalid("the launch data has no valid auth_date") from e


def _user(value: str | None) -> TelegramUser:
    if value is None:
        raise InitDataInvalid("the launch data names no user")
    try:
        data = json.loads(value)
    except ValueError as e:
        raise InitDataInvalid("the launch data's user is not JSON") from e
    if not isinstance(data, dict):
        raise InitDataInvalid("the launch data's user is not an object")
    user_id = data.get("id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataInvalid("the launch data's user has no valid id")
    return TelegramUser(
        id=user_id,
        first_name=_text(data.get("first_name")) or str(user_id),
        last_name=_text(data.get("last_name")),
        username=_text(data.get("username")),
        language_code=_text(data.get("language_code")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
