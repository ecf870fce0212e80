"""The delivery worker for staff notices: ``slack`` outbox rows out as Slack messages.

Each round claims the due rows, learns where each goes (`workflows.sharing.staff_notices.prepare`),
and folds those for the same conversation, kind and document into one message ("12
recipients opened D-3 Fee table 2027"). Conversations are served side by side, each at
most one message per ``interval`` (Slack allows about one a second per channel). A 429
waits its ``Retry-After`` and is never a failure; an outage backs off and retries, so a
notice is never lost: one that gives up stays visible, with a Retry button, in
`/inkpost status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import DeliveryError, PermanentFailure, TemporaryFailure, Throttled
from bot.slack.notices import MAX_NAMES, Group, group_notices, notice_message
from storage.models import Notification
from storage.rows import id_of
from workflows.context import Env
from workflows.outbox import claims
from workflows.outbox.kinds import (
    Channel,
    Via,
)
from workflows.outbox.loop import Claim, ClaimingWorker, OutboxLoop
from workflows.sharing import staff_notices
from workflows.sharing.staff_notices import StaffNotice

log = logging.getLogger(__name__)

NOTICE_BACKOFF = claims.Backoff(base=timedelta(seconds=30), cap=timedelta(hours=1))
"""Slower than a recipient's: a Slack outage of an hour still ends in delivery."""
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "restricted_action",
    }
)
"""Slack errors that say this message can never reach this conversation as it is."""
LEASE_SHARE = 0.8
"""Groups not sent within this share of the lease are handed back rather than risk
being claimed by another worker while still in hand."""
MAX_PACED = 1024

Sleep = Callable[[float], Awaitable[None]]


class ConversationPacer:
    """One message at a time per conversation, the next starting ``interval`` after the
    previous one was answered: wherever Slack counts a message, between its start and its
    answer, two are never counted closer together than ``interval``."""

    def __init__(
        self, interval: float, *, clock: Callable[[], float], sleep: Sleep = asyncio.sleep
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._free_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def turn(self, conversation: str) -> AsyncIterator[None]:
        """Wait until a message may go to ``conversation``; the block sends it."""
        lock = self._locks.setdefault(conversation, asyncio.Lock())
        async with lock:
            wait = self._free_at.get(conversation, -math.inf) - self.clock()
            if wait > 0:
                await self.sleep(wait)
            try:
                yield
            finally:
                self.hold(conversation, self.interval)
        self._forget_idle()

    def hold(self, conversation: str, seconds: float) -> None:
        """Send nothing more to ``conversation`` for ``seconds`` (Slack's Retry-After)."""
        free_at = self.clock() + seconds
        self._free_at[conversation] = max(self._free_at.get(conversation, -math.inf), free_at)

    def _forget_idle(self) -> None:
        if len(self._free_at) <= MAX_PACED:
            return
        now = self.clock()
        for conversation, free_at in list(self._free_at.items()):
            lock = self._locks.get(conversation)
            if free_at <= now and (lock is None or not lock.locked()):
                del self._free_at[conversation]
                self._locks.pop(conversation, None)


# -- the worker ----------------------------------------------------------------------------


class StaffNotifier(ClaimingWorker):
    """Claims ``slack`` rows and posts them; several may run against one PostgreSQL.

    Its loop (`workflows.outbox.loop`) handles one claim at a time: the rows of a claim
    are grouped before anything is posted."""

    def __init__(
        self,
        env: Env,
        client: AsyncWebClient,
        *,
        batch: int = 50,
        interval: float = 1.0,
        idle_seconds: float = 1.0,
        lease: timedelta = claims.LEASE,
        backoff: claims.Backoff = NOTICE_BACKOFF,
        max_names: int = MAX_NAMES,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.env = env
        self.client = client
        self.backoff = backoff
        self.max_names = max_names
        self.clock = clock
        self.pacer = ConversationPacer(interval, clock=clock, sleep=sleep)
        self.claim = Claim(
            worker=worker_id or f"slack-{uuid.uuid4().hex[:12]}",
            channels=(Channel.SLACK,),
            batch=batch,
            lease=lease,
        )
        self.loop = OutboxLoop(env, self, name="staff-notices", idle_seconds=idle_seconds)

    async def handle(self, rows: Sequence[Notification]) -> None:
        """Settle every row of one claim: group what goes to one conversation, then post
        each conversation's groups in turn, the conversations side by side."""
        deadline = self.clock() + self.claim.lease.total_seconds() * LEASE_SHARE
        notices = await staff_notices.prepare(self.env, rows)
        for notice in notices:
            await self._set_aside(notice)
        conversations: dict[str, list[Group]] = {}
        for group in group_notices([n for n in notices if _sendable(n)]):
            conversations.setdefault(group.destination.slack_id, []).append(group)
        await asyncio.gather(
            *(self._send_in_turn(groups, deadline) for groups in conversations.values())
        )

    async def _set_aside(self, notice: StaffNotice) -> None:
        """Settle a row that cannot be sent now: an unknown kind, a payload that cannot be
        read, or nowhere to send it."""
        row = notice.row
        unreadable = None
        if notice.kind not in staff_notices.KINDS:
            unreadable = f"unknown kind {row.kind}"
        elif notice.payload is None:
            unreadable = notice.problem or "the payload cannot be read"
        if unreadable is not None:
            await claims.mark_failed(
                self.env, row, worker=self.worker_id, error=unreadable, permanent=True
            )
        elif notice.destination is None:
            reason = notice.reason or "nowhere to send it"
            await claims.mark_waiting(self.env, id_of(row), worker=self.worker_id, reason=reason)

    async def _send_in_turn(self, groups: list[Group], deadline: float) -> None:
        """The groups of one conversation, one after another at the pacer's speed."""
        for index, group in enumerate(groups):
            try:
                result = await self._post(group, deadline)
            except Deferred:
                await self._hand_back(groups[index:], retry_after=0)
                return
            except Throttled as throttled:
                await self._hand_back(groups[index:], retry_after=throttled.retry_after)
                return
            except DeliveryError as failure:
                await self._fail(group, failure)
            else:
                for notice in group.notices:
                    await claims.mark_sent(
                        self.env,
                        id_of(notice.row),
                        worker=self.worker_id,
                        via=Via.SLACK,
                        result=result,
                    )

    async def _post(self, group: Group, deadline: float) -> dict[str, Any]:
        """Send one group's message in the conversation's turn; Slack errors come out as
        DeliveryError, and Deferred when the turn came too late or the worker is stopping."""
        conversation = group.destination.slack_id
        message = notice_message(group, max_names=self.max_names)
        async with self.pacer.turn(conversation):
            if self.loop.stopping or self.clock() >= deadline:
                raise Deferred
            try:
                response = await self.client.chat_postMessage(
                    channel=conversation, unfurl_links=False, **message
                )
            except SlackApiError as error:
                failure = _wrap(error)
                if isinstance(failure, Throttled):
                    self.pacer.hold(conversation, failure.retry_after)
                raise failure from error
            except (aiohttp.ClientError, TimeoutError) as error:
                raise TemporaryFailure(f"Slack could not be reached: {error!r}") from error
        return {
            "channel": str(response.get("channel") or conversation),
            "ts": str(response.get("ts") or ""),
            "grouped": str(len(group.notices)),
        }

    async def _hand_back(self, groups: Sequence[Group], *, retry_after: float) -> None:
        """Rows not sent this round, due again after ``retry_after``, attempt not counted."""
        for group in groups:
            for notice in group.notices:
                await claims.mark_throttled(
                    self.env, id_of(notice.row), worker=self.worker_id, retry_after=retry_after
                )

    async def _fail(self, group: Group, failure: DeliveryError) -> None:
        permanent = isinstance(failure, PermanentFailure)
        if not permanent:
            log.warning("staff notice to %s failed: %s", group.destination.slack_id, failure)
        for notice in group.notices:
            await claims.mark_failed(
                self.env,
                notice.row,
                worker=self.worker_id,
                error=str(failure),
                permanent=permanent,
                backoff=self.backoff,
            )


class Deferred(Exception):
    """Not sent this round: its rows go back to the outbox, their attempt not counted."""


def _sendable(notice: StaffNotice) -> bool:
    return (
        notice.destination is not None
        and notice.kind in staff_notices.KINDS
        and notice.payload is not None
    )


def _wrap(error: SlackApiError) -> DeliveryError:
    """Slack's answer as one of our delivery outcomes."""
    response = error.response
    code = str(response.get("error") or "") if isinstance(response.data, dict) else ""
    if response.status_code == 429 or code == "ratelimited":
        return Throttled(_retry_after(response.headers))
    if code in PERMANENT_ERRORS:
        return PermanentFailure(f"Slack refused the message: {code}")
    return TemporaryFailure(f"Slack answered {response.status_code} {code or 'without a reason'}")


def _retry_after(headers: Any) -> float:
    for name, value in dict(headers or {}).items():
        if str(name).lower() == "retry-after":
            with contextlib.suppress(TypeError, ValueError):
                return max(float(value), 1.0)
    return 1.0
