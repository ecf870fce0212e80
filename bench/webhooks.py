"""How fast the webhook worker delivers to a local receiver, next to bare signed POSTs.

    python bench/webhooks.py [--n 2000] [--endpoints 1] [--postgres URL]

A receiver on 127.0.0.1 answers every POST with 204. ``--n`` events per endpoint are
queued through `workflows.webhooks.emitting.emit_many` (one outbox row each, SQLite under
a temporary directory unless ``--postgres`` names an empty database), then the worker
(``bot.webhooks.WebhookWorker``, run by the outbox loop as ``inkpost serve`` runs it)
delivers them all. Reported, with the load average at start and end:

- deliveries/s of the worker: claim, sign, POST, settle each row in the store;
- deliveries/s of the baseline from the same run: the same bodies, signed the same way,
  POSTed one after another per endpoint (endpoints side by side) with the same aiohttp
  client and no store at all;
- their ratio: what the outbox's bookkeeping costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402
from sqlalchemy import func  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bench._load import print_load  # noqa: E402
from bot.webhooks import WebhookSender, WebhookWorker, client_session  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import FileBlobStore  # noqa: E402
from storage.db import make_engine, make_session_factory, sqlite_url  # noqa: E402
from storage.models import Notification  # noqa: E402
from workflows.context import Actor, Env  # noqa: E402
from workflows.outbox.kinds import Channel, Status  # noqa: E402
from workflows.people import organizations  # noqa: E402
from workflows.webhooks import emitting, endpoints  # noqa: E402
from workflows.webhooks.addresses import AddressPolicy  # noqa: E402
from workflows.webhooks.events import DeliveryDead, Event, EventType  # noqa: E402
from workflows.webhooks.signing import new_message_id, signed_headers  # noqa: E402

LOCAL = AddressPolicy(allow_private=True)
OPERATOR = Actor.system("bench")


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.count += 1
        if self.target and self.count >= self.target:
            self.reached.set()
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{n}", self.hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hooks"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def _event(org_id: int, n: int) -> Event:
    return Event(
        org_id=org_id,
        type=EventType.DELIVERY_DEAD,
        key=f"bench:{n}",
        data=DeliveryDead(
            notification_id=n,
            notification_kind="document.shared",
            channel="recipient",
            error="the recipient blocked the bot",
        ),
        at=datetime.now(UTC),
    )


async def bench(n: int, endpoint_count: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or sqlite_url(Path(tmp) / "inkpost.db")
        engine = make_engine(url)
        await migrate.upgrade(engine)
        env = Env(sessions=make_session_factory(engine), blobs=FileBlobStore(Path(tmp) / "b"))
        receiver = Receiver()
        await receiver.start()
        try:
            org = await organizations.create_organization(
                env, slug="bench", name="Bench Law", actor=OPERATOR
            )
            assert org.id is not None
            secrets = []
            for i in range(endpoint_count):
                made = await endpoints.register_endpoint(
                    env,
                    org_id=org.id,
                    actor=OPERATOR,
                    url=f"{receiver.url}/{i}",
                    events=["delivery.dead"],
                    policy=LOCAL,
                )
                secrets.append((made.endpoint.url, made.secret))
            events = [_event(org.id, i) for i in range(n)]
            started = time.perf_counter()
            async with env.sessions() as session, session.begin():
                queued = await emitting.emit_many(session, events)
            enqueue = time.perf_counter() - started
            print(f"queued {queued} deliveries in {enqueue:.2f} s")

            async with client_session(LOCAL) as http:
                sender = WebhookSender(http, LOCAL, timeout=10)
                # Baseline: the same bodies, signed and posted, no store.
                bodies = [e.body() for e in events]
                started = time.perf_counter()

                async def post_all(url: str, secret: str) -> None:
                    for body in bodies:
                        headers = signed_headers(
                            secret=secret,
                            message_id=new_message_id(),
                            at=datetime.now(UTC),
                            body=body,
                        )
                        await sender.post(url, headers=headers, body=body)

                await asyncio.gather(*(post_all(u, s) for u, s in secrets))
                baseline = queued / (time.perf_counter() - started)
                receiver.count, receiver.target = 0, queued

                worker = WebhookWorker(env, sender, batch=100, ahead=2, idle_seconds=0.05)
                started = time.perf_counter()
                async with worker.loop.running():
                    await receiver.reached.wait()
                    await _settled(env)
                elapsed = time.perf_counter() - started
            rate = queued / elapsed
            print(f"worker:   {rate:8.1f} deliveries/s ({queued} in {elapsed:.2f} s)")
            print(f"baseline: {baseline:8.1f} signed POSTs/s, same bodies, no store")
            print(f"ratio worker/baseline: {rate / baseline:.2f}")
            print(f"received {receiver.count}, settled as sent {await _sent(env)}")
        finally:
            await receiver.stop()
            await engine.dispose()


async def _settled(env: Env) -> None:
    """Wait until every delivery received is settled in the store (the last ones' marks)."""
    query = select(func.count()).where(
        col(Notification.channel) == Channel.WEBHOOK, col(Notification.status) != Status.SENT
    )
    for _ in range(10_000):
        async with env.reads() as session:
            if int((await session.exec(query)).one()) == 0:
                return
        await asyncio.sleep(0.01)
    raise RuntimeError("deliveries received but never settled")


async def _sent(env: Env) -> int:
    async with env.reads() as session:
        query = select(func.count()).where(
            col(Notification.channel) == Channel.WEBHOOK, col(Notification.status) == Status.SENT
        )
        return int((await session.exec(query)).one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="events per endpoint")
    parser.add_argument("--endpoints", type=int, default=1)
    parser.add_argument("--postgres", metavar="URL", help="an empty PostgreSQL database")
    args = parser.parse_args()
    print_load("start")
    asyncio.run(bench(args.n, args.endpoints, args.postgres))
    print_load("end")


if __name__ == "__main__":
    main()
