"""The webhook worker: ``webhook`` outbox rows out as signed HTTP POSTs.

Each attempt is signed anew (`workflows.webhooks.signing`) over the body fixed when the
event was queued, under the same ``webhook-id``. Requests connect only where the address
policy allows: `GuardedResolver` drops every address it refuses from what a name resolves
to, at connect time, so a name that resolves elsewhere later gains nothing; a URL naming
an address literally is checked before connecting. Redirects are not followed (a 3xx is a
failure) and a receiver that does not answer within ``timeout`` seconds is cut off.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.errors import DeliveryError, TemporaryFailure
from storage.models import Notification
from workflows.context import Env
from workflows.outbox import claims
from workflows.outbox.kinds import Channel
from workflows.outbox.loop import Claim, ClaimingWorker, OutboxLoop
from workflows.webhooks import deliveries
from workflows.webhooks.addresses import AddressPolicy, literal_address
from workflows.webhooks.deliveries import Delivery, RetryPolicy, Unreadable
from workflows.webhooks.endpoints import earlier_secrets
from workflows.webhooks.signing import signed_headers

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
USER_AGENT = "Inkpost-Webhooks/1"
MAX_CONNECTIONS = 50
PER_ENDPOINT = 4
"""Requests in flight to one endpoint at once."""


class EndpointGone(DeliveryError):
    """The receiver answered 410 Gone: the endpoint is no more."""


class RefusedAddress(OSError):
    """A name resolved only to addresses webhooks may not reach."""


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and keeps only the addresses ``policy`` allows."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        allowed = [r for r in found if self.policy.refusal(r["host"]) is None]
        if not allowed:
            refusals = {self.policy.refusal(r["host"]) for r in found} - {None}
            raise RefusedAddress(f"{host} resolves to " + "; ".join(sorted(map(str, refusals))))
        return allowed

    async def close(self) -> None:
        await self.inner.close()


def client_session(
    policy: AddressPolicy, *, timeout: float = TIMEOUT_SECONDS
) -> aiohttp.ClientSession:
    """The HTTP client of the webhook worker: guarded resolution, no proxies from the
    environment, every request cut off after ``timeout`` seconds."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), limit=MAX_CONNECTIONS)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"user-agent": USER_AGENT},
        trust_env=False,
    )


class WebhookSender:
    """Posts one signed body; a non-2xx answer, a refused address, a timeout or a
    connection that fails comes back as `TemporaryFailure` with what happened, and 410
    Gone as `EndpointGone`."""

    def __init__(
        self, session: aiohttp.ClientSession, policy: AddressPolicy, *, timeout: float
    ) -> None:
        self.session = session
        self.policy = policy
        self.timeout = timeout

    async def post(self, url: str, *, headers: dict[str, str], body: str) -> int:
        """The receiver's 2xx status."""
        host = urlsplit(url).hostname or ""
        address = literal_address(host)
        if address is not None and (refusal := self.policy.refusal(address)) is not None:
            raise TemporaryFailure(refusal)
        try:
            async with self.session.post(
                url, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                location = response.headers.get("location")
                wait = retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        except aiohttp.ClientConnectorError as error:
            cause = error.os_error
            if isinstance(cause, RefusedAddress):
                raise TemporaryFailure(str(cause)) from error
            raise TemporaryFailure(f"could not connect: {cause}") from error
        except TimeoutError as error:
            raise TemporaryFailure(f"no answer within {self.timeout:g} s") from error
        except (aiohttp.ClientError, OSError) as error:
            raise TemporaryFailure(f"the request failed: {error!r}") from error
        if 200 <= status < 300:
            return status
        if status == 410:
            raise EndpointGone("answered 410 Gone")
        if 300 <= status < 400:
            raise TemporaryFailure(
                f"answered {status} (redirects are not followed; to {location or 'nowhere'})"
            )
        if wait is not None:
            raise TemporaryFailure(
                f"answered {status}, asking to wait {wait:g} s", retry_after=wait
            )
        raise TemporaryFailure(f"answered {status}")


def retry_after(value: str | None, *, now: datetime) -> float | None:
    """The seconds a ``Retry-After`` header asks for (RFC 9110: a number of seconds or an
    HTTP date); None when there is none or it says nothing usable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:  # "-0000": UTC, as HTTP dates always are
        at = at.replace(tzinfo=UTC)
    return max((at - now).total_seconds(), 0.0)


class WebhookWorker(ClaimingWorker):
    """Claims ``webhook`` rows and posts them; several may run against one PostgreSQL.

    The endpoints of one claim are served side by side, each with at most
    ``per_endpoint`` requests in flight. Failures are settled as they happen; successes
    together, once the endpoint's share of the claim is out (a crash in between sends
    those again, with the same ``webhook-id``, when their leases end)."""

    def __init__(
        self,
        env: Env,
        sender: WebhookSender,
        *,
        policy: RetryPolicy | None = None,
        batch: int = 50,
        ahead: int = 2,
        idle_seconds: float = 1.0,
        lease: timedelta = claims.LEASE,
        per_endpoint: int = PER_ENDPOINT,
        worker_id: str | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.env = env
        self.per_endpoint = per_endpoint
        self.sender = sender
        self.policy = policy or RetryPolicy()
        self.wall_clock = wall_clock
        self.claim = Claim(
            worker=worker_id or f"webhooks-{uuid.uuid4().hex[:12]}",
            channels=(Channel.WEBHOOK,),
            batch=batch,
            lease=lease,
        )
        self.loop = OutboxLoop(env, self, name="webhooks", ahead=ahead, idle_seconds=idle_seconds)

    async def handle(self, rows: Sequence[Notification]) -> None:
        by_endpoint: dict[int, list[Delivery]] = {}
        for item in await deliveries.prepare(self.env, rows):
            if isinstance(item, Unreadable):
                await deliveries.mark_unreadable(
                    self.env, item.row, worker=self.worker_id, problem=item.problem
                )
            else:
                by_endpoint.setdefault(item.payload.endpoint_id, []).append(item)
        await asyncio.gather(*(self._to_endpoint(items) for items in by_endpoint.values()))

    async def _to_endpoint(self, items: list[Delivery]) -> None:
        """One endpoint's deliveries, ``per_endpoint`` at a time; those it took are settled
        together, in one transaction."""
        delivered: list[tuple[Delivery, int]] = []
        for start in range(0, len(items), self.per_endpoint):
            chunk = items[start : start + self.per_endpoint]
            outcomes = await asyncio.gather(*(self._deliver(item) for item in chunk))
            delivered += [(item, code) for item, code in zip(chunk, outcomes, strict=True) if code]
        await deliveries.mark_delivered(self.env, delivered, worker=self.worker_id)

    async def _deliver(self, delivery: Delivery) -> int | None:
        """The receiver's 2xx status; None when the row was settled otherwise."""
        endpoint = delivery.endpoint
        if endpoint is None or not endpoint.enabled:
            await deliveries.mark_held(self.env, delivery, worker=self.worker_id)
            return None
        payload = delivery.payload
        headers = signed_headers(
            secret=endpoint.secret,
            also=earlier_secrets(endpoint, at=self.env.clock.now()),
            message_id=payload.message_id,
            at=self.wall_clock(),
            body=payload.body,
        )
        try:
            return await self.sender.post(endpoint.url, headers=headers, body=payload.body)
        except EndpointGone as gone:
            log.info("webhook %s to endpoint %s: %s", payload.message_id, endpoint.id, gone)
            await deliveries.mark_gone(self.env, delivery, worker=self.worker_id, error=str(gone))
            return None
        except DeliveryError as failure:
            log.info("webhook %s to endpoint %s: %s", payload.message_id, endpoint.id, failure)
            wait = getattr(failure, "retry_after", None)
            await deliveries.mark_failed(
                self.env,
                delivery,
                worker=self.worker_id,
                error=str(failure),
                policy=self.policy,
                not_before=timedelta(seconds=wait) if wait is not None else None,
            )
            return None
