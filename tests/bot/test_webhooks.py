"""The webhook worker against a local receiver: signed as Standard Webhooks prescribes,
every event exactly once after outages, nothing sent where the address policy forbids,
no redirect followed, and an endpoint that keeps failing turned off with admins told."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from bot.slack.notify import StaffNotifier
from bot.webhooks import (
    GuardedResolver,
    RefusedAddress,
    WebhookSender,
    WebhookWorker,
    retry_after,
)
from bot.webhooks import client_session as webhook_client
from inkpost import webhooks as webhook_service
from inkpost.errors import UserError
from inkpost.runtime import Runtime
from inkpost.settings import Settings
from storage.models import Notification, StaffUser
from tests.conftest import STAFF, Tenant
from tests.fakes.slack_api import FakeSlackApi
from tests.helpers import upload
from workflows.context import Env, FixedClock
from workflows.outbox.claims import Backoff
from workflows.people import organizations
from workflows.sharing import sharing
from workflows.webhooks import deliveries, endpoints
from workflows.webhooks.addresses import AddressPolicy
from workflows.webhooks.deliveries import RetryPolicy

LOOPBACK = AddressPolicy(allow_private=True)
PUBLIC_ONLY = AddressPolicy()
TIMEOUT = 0.5
QUICK = RetryPolicy(max_attempts=10, backoff=Backoff(base=timedelta(seconds=1)))


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers as ``script`` says, then 204."""

    script: list[str] = field(default_factory=list)
    """What the next requests get: ``500``, ``410``, ``slow`` (no answer in time), ``302``,
    or ``429:<Retry-After>`` and ``503:<Retry-After>``."""
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    accepted: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    redirected_to: int = 0
    port: int = 0
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def hook(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.received.append((headers, body))
        answer = self.script.pop(0) if self.script else "204"
        if answer == "slow":
            await asyncio.sleep(TIMEOUT * 4)
        elif answer == "302":
            raise web.HTTPFound("/elsewhere")
        elif answer == "500":
            return web.Response(status=500, text="down for maintenance")
        elif answer == "410":
            return web.Response(status=410, text="this hook was removed")
        elif answer.startswith(("429:", "503:")):  # the status, and its Retry-After
            status, wait = answer.split(":", 1)
            return web.Response(status=int(status), headers={"Retry-After": wait})
        self.accepted.append((headers, body))
        return web.Response(status=204)

    async def elsewhere(self, request: web.Request) -> web.StreamResponse:
        self.redirected_to += 1
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self.hook)
        app.router.add_route("*", "/elsewhere", self.elsewhere)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    try:
        yield found
    finally:
        await found.stop()


@pytest.fixture
async def http() -> AsyncIterator[WebhookSender]:
    async with webhook_client(LOOPBACK, timeout=TIMEOUT) as session:
        yield WebhookSender(session, LOOPBACK, timeout=TIMEOUT)


def _worker(env: Env, sender: WebhookSender, policy: RetryPolicy = QUICK) -> WebhookWorker:
    return WebhookWorker(env, sender, policy=policy, batch=10, idle_seconds=0.05)


async def _register(env: Env, tenant: Tenant, url: str) -> str:
    made = await endpoints.register_endpoint(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        url=url,
        events=["document.shared"],
        policy=LOOPBACK,
    )
    return made.secret


async def _share(env: Env, tenant: Tenant, count: int = 1) -> None:
    for n in range(count):
        document = await upload(
            env, org_id=tenant.org_id, client_id=tenant.client_id, title=f"Contract {n}"
        )
        assert document.id is not None
        await sharing.share_with_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=tenant.recipient_id,
        )


async def _admin_in_slack(env: Env, tenant: Tenant, slack_api: FakeSlackApi) -> None:
    """Ada, an administrator of the tenant, known in Slack as U0ADA."""
    admin = await organizations.add_staff(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Ada Admin",
        email="ada@acme.test",
        role="admin",
    )
    async with env.sessions() as session, session.begin():
        member = await session.get(StaffUser, admin.id)
        assert member is not None
        member.slack_user_id = "U0ADA"
        session.add(member)
    slack_api.add_user("U0ADA", "ada")


async def _rounds(worker: WebhookWorker, clock: FixedClock, count: int) -> None:
    """``count`` claims, the clock moved past every back-off between them."""
    for _ in range(count):
        await worker.run_once()
        clock.at += timedelta(hours=1)


async def test_every_delivery_verifies_with_the_standard_library(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender
) -> None:
    secret = await _register(env, tenant, receiver.url)
    await _share(env, tenant, count=3)

    assert await _worker(env, http).run_once() == 3

    assert len(receiver.accepted) == 3
    verifier = Webhook(secret)
    for headers, body in receiver.accepted:
        event = verifier.verify(body, headers)
        assert event["type"] == "document.shared"
        assert headers["content-type"] == "application/json"
    titles = sorted(json.loads(body)["data"]["title"] for _, body in receiver.accepted)
    assert titles == ["Contract 0", "Contract 1", "Contract 2"]
    sent = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="sent")
    assert len(sent) == 3


async def test_a_wrong_secret_does_not_verify(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    await _worker(env, http).run_once()
    [(headers, body)] = receiver.accepted
    other = await endpoints.register_endpoint(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        url=receiver.url,
        events=["document.opened"],
        policy=LOOPBACK,
    )
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other.secret).verify(body, headers)


async def test_errors_timeouts_and_an_outage_end_in_exactly_one_delivery_of_each_event(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender, clock: FixedClock
) -> None:
    secret = await _register(env, tenant, receiver.url)
    await _share(env, tenant, count=2)
    worker = _worker(env, http)

    receiver.script = ["500", "500", "slow", "slow"]
    await _rounds(worker, clock, 2)  # two errors, then two timeouts
    await receiver.stop()
    await _rounds(worker, clock, 2)  # nobody listens
    assert receiver.accepted == []
    pending = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="pending")
    errors = {d.last_error for d in pending}
    assert any("could not connect" in (e or "") for e in errors)
    await receiver.start()  # back on the same port
    await _rounds(worker, clock, 2)

    assert len(receiver.accepted) == 2
    ids = [headers["webhook-id"] for headers, _ in receiver.accepted]
    assert len(set(ids)) == 2
    # Every attempt at one event carried the same id and the same bytes.
    by_id: dict[str, set[bytes]] = {}
    for headers, body in receiver.received:
        by_id.setdefault(headers["webhook-id"], set()).add(body)
    assert set(by_id) == set(ids) and all(len(bodies) == 1 for bodies in by_id.values())
    for headers, body in receiver.accepted:
        Webhook(secret).verify(body, headers)
    [endpoint] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert endpoint.enabled and endpoint.failing_since is None


async def test_a_slow_receiver_is_cut_off_after_the_timeout(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    receiver.script = ["slow"]
    await _worker(env, http).run_once()
    [row] = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    assert row.status == "pending" and row.last_error == f"no answer within {TIMEOUT:g} s"


@pytest.mark.parametrize(
    ("answer", "wait", "said"),
    [
        ("503:120", timedelta(seconds=120), "answered 503, asking to wait 120 s"),
        ("429:86400", timedelta(hours=1), "answered 429, asking to wait 86400 s"),
    ],
    ids=["as asked", "no later than the back-off's cap"],
)
async def test_a_receiver_asking_to_wait_is_not_tried_sooner(
    env: Env,
    tenant: Tenant,
    receiver: Receiver,
    http: WebhookSender,
    clock: FixedClock,
    answer: str,
    wait: timedelta,
    said: str,
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    receiver.script = [answer]

    await _worker(env, http).run_once()

    [row] = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, said)
    assert row.next_attempt_at == clock.now() + wait


async def test_a_retry_after_that_says_nothing_usable_leaves_the_back_off_as_it_is(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender, clock: FixedClock
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    receiver.script = ["429:soon"]

    await _worker(env, http).run_once()

    [row] = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    assert row.last_error == "answered 429"
    assert row.next_attempt_at <= clock.now() + QUICK.backoff.base * 1.5


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    assert retry_after("120", now=now) == 120.0
    assert retry_after(" 0 ", now=now) == 0.0
    assert retry_after("Mon, 07 Dec 2026 12:05:00 GMT", now=now) == 300.0
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now=now) == 0.0  # already past
    for nothing in (None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2026"):
        assert retry_after(nothing, now=now) is None


async def test_a_redirect_is_not_followed(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    receiver.script = ["302"]
    await _worker(env, http).run_once()
    assert receiver.redirected_to == 0
    [row] = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    assert row.status == "pending"
    assert row.last_error == "answered 302 (redirects are not followed; to /elsewhere)"


async def test_without_the_setting_loopback_is_refused_by_name_and_by_address(
    env: Env, tenant: Tenant, receiver: Receiver
) -> None:
    await _register(env, tenant, receiver.url)
    await _register(env, tenant, f"http://localhost:{receiver.port}/hooks")
    await _share(env, tenant)
    async with webhook_client(PUBLIC_ONLY, timeout=TIMEOUT) as session:
        sender = WebhookSender(session, PUBLIC_ONLY, timeout=TIMEOUT)
        assert await _worker(env, sender).run_once() == 2
    assert receiver.received == []
    errors = sorted(
        d.last_error or "" for d in await deliveries.list_deliveries(env, org_id=tenant.org_id)
    )
    assert errors[0] == "127.0.0.1 is a loopback address, which webhooks may not reach"
    assert errors[1].startswith("localhost resolves to ")
    assert "loopback address, which webhooks may not reach" in errors[1]


class _Rebinding(AbstractResolver):
    """A name server that answers with whatever it is told to."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("answers", "kept"),
    [
        (("10.0.0.5",), None),
        (("169.254.169.254",), None),
        (("93.184.216.34", "127.0.0.1"), ["93.184.216.34"]),
        (("93.184.216.34",), ["93.184.216.34"]),
    ],
)
async def test_the_resolver_keeps_only_allowed_addresses_whatever_the_name_says(
    answers: tuple[str, ...], kept: list[str] | None
) -> None:
    resolver = GuardedResolver(PUBLIC_ONLY, _Rebinding(*answers))
    if kept is None:
        with pytest.raises(RefusedAddress, match="erp.example.com resolves to"):
            await resolver.resolve("erp.example.com", 443)
    else:
        assert [r["host"] for r in await resolver.resolve("erp.example.com", 443)] == kept


async def test_an_allowed_network_is_reached_and_others_are_not() -> None:
    office = AddressPolicy.of(allow_private=False, networks=["10.1.0.0/16"])
    resolver = GuardedResolver(office, _Rebinding("10.1.4.2", "10.2.0.1"))
    assert [r["host"] for r in await resolver.resolve("erp.internal", 80)] == ["10.1.4.2"]


async def test_dead_after_the_last_attempt_and_the_retry_delivers_the_same_event(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender, clock: FixedClock
) -> None:
    await _register(env, tenant, receiver.url)
    await _share(env, tenant)
    worker = _worker(env, http, RetryPolicy(max_attempts=2, backoff=QUICK.backoff))
    receiver.script = ["500"] * 3
    await _rounds(worker, clock, 3)
    [dead] = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="dead")
    assert dead.attempts == 2 and len(receiver.received) == 2

    await deliveries.retry_deliveries(
        env, org_id=tenant.org_id, actor=STAFF, delivery_ids=[dead.id]
    )
    await _rounds(worker, clock, 2)  # one more 500, then accepted
    assert len(receiver.accepted) == 1
    assert {h["webhook-id"] for h, _ in receiver.received} == {dead.message_id}


async def test_an_endpoint_that_keeps_failing_is_turned_off_and_admins_hear_in_slack(
    env: Env,
    tenant: Tenant,
    receiver: Receiver,
    http: WebhookSender,
    clock: FixedClock,
    slack_api: FakeSlackApi,
) -> None:
    await _admin_in_slack(env, tenant, slack_api)
    await _register(env, tenant, receiver.url)
    await _share(env, tenant, count=3)
    await receiver.stop()
    policy = RetryPolicy(max_attempts=1, disable_after_dead=2, backoff=QUICK.backoff)
    worker = WebhookWorker(env, http, policy=policy, batch=1)
    await _rounds(worker, clock, 3)

    [endpoint] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert not endpoint.enabled
    waiting = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="waiting")
    assert len(waiting) == 1
    notifier = StaffNotifier(env, AsyncWebClient(token=slack_api.token, base_url=slack_api.api_url))
    await notifier.run_once()
    [message] = slack_api.messages_to("U0ADA")
    assert f"Webhook endpoint {endpoint.id} ({receiver.url}) was turned off" in message.text
    assert "2 deliveries in a row were given up" in message.text

    # Turned on again, what waited is delivered.
    await receiver.start()
    await endpoints.enable_endpoint(env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint.id)
    await _rounds(worker, clock, 2)
    assert len(receiver.accepted) == 1


async def test_a_410_turns_the_endpoint_off_at_once_and_nothing_more_is_tried(
    env: Env,
    tenant: Tenant,
    receiver: Receiver,
    http: WebhookSender,
    clock: FixedClock,
    slack_api: FakeSlackApi,
) -> None:
    await _admin_in_slack(env, tenant, slack_api)
    secret = await _register(env, tenant, receiver.url)
    await _share(env, tenant, count=3)
    receiver.script = ["410"]
    worker = WebhookWorker(env, http, policy=QUICK, batch=10, per_endpoint=1)

    await _rounds(worker, clock, 3)

    assert len(receiver.received) == 1 and receiver.accepted == []
    [endpoint] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "the receiver answered 410 Gone"
    waiting = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="waiting")
    assert len(waiting) == 3
    gone = [view for view in waiting if view.last_error == "answered 410 Gone"]
    assert len(gone) == 1 and gone[0].attempts == 1
    notifier = StaffNotifier(env, AsyncWebClient(token=slack_api.token, base_url=slack_api.api_url))
    await notifier.run_once()
    [message] = slack_api.messages_to("U0ADA")
    assert "410 Gone" in message.text

    # Turned on again (the receiver is back), every event arrives once, the first under
    # the webhook-id it was refused with.
    await endpoints.enable_endpoint(env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint.id)
    await _rounds(worker, clock, 1)
    assert len(receiver.accepted) == 3
    ids = [headers["webhook-id"] for headers, _ in receiver.accepted]
    assert len(set(ids)) == 3 and receiver.received[0][0]["webhook-id"] in ids
    for headers, body in receiver.accepted:
        Webhook(secret).verify(body, headers)


async def test_after_a_rotation_both_secrets_verify_until_the_overlap_ends(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender, clock: FixedClock
) -> None:
    old = await _register(env, tenant, receiver.url)
    [endpoint] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    rotated = await endpoints.rotate_secret(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        endpoint_id=endpoint.id,
        overlap=timedelta(hours=2),
    )
    new = rotated.secret
    assert new != old
    await _share(env, tenant)
    await _worker(env, http).run_once()
    [(headers, body)] = receiver.accepted
    assert Webhook(old).verify(body, headers) == Webhook(new).verify(body, headers)

    clock.at += timedelta(hours=2)
    await _share(env, tenant)
    await _worker(env, http).run_once()
    headers, body = receiver.accepted[1]
    Webhook(new).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(old).verify(body, headers)


async def test_the_worker_runs_in_its_loop_until_stopped(
    env: Env, tenant: Tenant, receiver: Receiver, http: WebhookSender
) -> None:
    await _register(env, tenant, receiver.url)
    worker = _worker(env, http)
    async with worker.loop.running():
        await _share(env, tenant, count=2)
        for _ in range(200):
            if len(receiver.accepted) == 2:
                break
            await asyncio.sleep(0.05)
    assert len(receiver.accepted) == 2


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


async def test_serve_runs_the_worker_with_the_operators_address_policy(
    env: Env, engine: AsyncEngine, tenant: Tenant, receiver: Receiver
) -> None:
    await _register(env, tenant, receiver.url)
    refused = Runtime(settings=_settings(), engine=engine, env=env)
    allowed = Runtime(
        settings=_settings(webhook_allow_private=True, webhook_timeout_seconds=2),
        engine=engine,
        env=env,
    )
    app = web.Application()

    async with contextlib.aclosing(webhook_service.lifetime(refused)(app)) as running:
        await anext(running)
        await _share(env, tenant)
        await _until(lambda: _attempted(env, tenant))
    assert receiver.received == []
    [row] = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    assert "loopback address, which webhooks may not reach" in (row.last_error or "")

    async with env.sessions() as session, session.begin():  # due at once, not after back-off
        stored = await session.get(Notification, row.id)
        assert stored is not None
        stored.next_attempt_at = stored.created_at
        session.add(stored)
    async with contextlib.aclosing(webhook_service.lifetime(allowed)(app)) as running:
        await anext(running)
        await _until(lambda: _received(receiver))
    assert len(receiver.accepted) == 1


def test_the_allowed_networks_setting_is_read_or_refused() -> None:
    policy = webhook_service.address_policy(
        _settings(webhook_allowed_networks="10.1.0.0/16, 192.168.5.0/24")
    )
    assert policy.refusal("192.168.5.9") is None and policy.refusal("192.168.6.9") is not None
    with pytest.raises(UserError, match="INKPOST_WEBHOOK_ALLOWED_NETWORKS: 'office'"):
        webhook_service.address_policy(_settings(webhook_allowed_networks="office"))


async def _attempted(env: Env, tenant: Tenant) -> bool:
    rows = await deliveries.list_deliveries(env, org_id=tenant.org_id)
    return bool(rows) and rows[0].attempts > 0 and rows[0].status != "sending"


async def _received(receiver: Receiver) -> bool:
    return bool(receiver.accepted)


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("it did not happen in time")
