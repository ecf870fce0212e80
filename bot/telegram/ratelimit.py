"""Telegram's flood limits: PTB's limiter covers overall and group rates; this adds the
one message per second per private chat that it leaves out."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.ext import AIORateLimiter

JSONDict = dict[str, Any]

PRIVATE_CHAT_RATE = 1.0  # messages per second to one private chat
MAX_TRACKED_CHATS = 4096


class ChatRateLimiter(AIORateLimiter):
    """AIORateLimiter plus a limiter per private chat (positive chat ids)."""

    def __init__(self, *, per_chat_rate: float = PRIVATE_CHAT_RATE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._per_chat_rate = per_chat_rate
        self._chats: OrderedDict[int, AsyncLimiter] = OrderedDict()

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self._chats.pop(chat_id, None)
        if limiter is None:
            limiter = AsyncLimiter(max_rate=1, time_period=1 / self._per_chat_rate)
        self._chats[chat_id] = limiter
        while len(self._chats) > MAX_TRACKED_CHATS:
            self._chats.popitem(last=False)
        return limiter

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        chat_id: Any = data.get("chat_id")
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        if isinstance(chat_id, int) and chat_id > 0 and endpoint.startswith("send"):
            async with self._chat_limiter(chat_id):
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )
