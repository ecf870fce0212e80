"""How fast the integration API lists and uploads documents, next to the same work done
by the workflow functions directly, in the same run.

    python bench/api.py [--documents 100000] [--pages 300] [--uploads 100] [--rounds 5]
                        [--postgres URL] [--webhooks] [--webhook-events 2000]

A store (SQLite under a temporary directory unless ``--postgres`` names an empty
database) gets ``--documents`` documents of one client, written in bulk. The web app
(`web_sign.create_app`, with the API under /api/v1) is served on a free loopback port.
Each figure is the median of ``--rounds`` rounds, the API and its baseline taking turns
to go first in a round, so that a burst of load elsewhere on the machine falls on both.
Reported, with the load average at start and end:

- ``GET /api/v1/documents?limit=50`` pages per second, walking the cursor from the newest
  page on, one request after another with one aiohttp client and an API key; the
  baseline is the same pages read by `workflows.listing.page_of` in-process;
- the floor of that ratio on this machine: a bare aiohttp handler answering the bytes of
  one such page (no key, no store) with the same client, and the ratio the API would
  reach if it cost nothing but that HTTP exchange;
- uploads per second of a 3-page PDF through ``POST /api/v1/documents`` (multipart,
  streamed); the baseline is `workflows.documents.filing.upload_document` with the same
  bytes;
- each ratio (API / baseline): what HTTP, authentication and JSON cost.

With ``--webhooks``, then the webhook worker's delivery rate to a local receiver, as
``bench/webhooks.py`` measures it (``--webhook-events`` events, on a SQLite store of its
own unless ``--webhooks-postgres`` names another empty database).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench import webhooks as webhook_bench  # noqa: E402
from bench._load import print_load  # noqa: E402
from inkpost.sample_pdf import make_pdf  # noqa: E402
from storage import bulk, migrate  # noqa: E402
from storage.blobs import FileBlobStore  # noqa: E402
from storage.db import make_engine, make_session_factory, sqlite_url  # noqa: E402
from storage.models import Document, Organization  # noqa: E402
from web_api.rate import RateLimit  # noqa: E402
from web_sign import create_app  # noqa: E402
from workflows import api_keys  # noqa: E402
from workflows.context import Actor, Env, Limits  # noqa: E402
from workflows.documents import filing  # noqa: E402
from workflows.listing import page_of  # noqa: E402
from workflows.people import organizations  # noqa: E402

OPERATOR = Actor.system("bench")
PAGE = 50
BATCH = 5000


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def seed(env: Env, *, documents: int) -> tuple[int, int, str]:
    """An organisation with one client holding ``documents`` documents; an API key."""
    org = await organizations.create_organization(
        env, slug="bench", name="Bench Law", actor=OPERATOR
    )
    assert org.id is not None
    client = await organizations.add_client(env, org_id=org.id, actor=OPERATOR, name="Client")
    assert client.id is not None
    first = await filing.upload_document(
        env,
        org_id=org.id,
        actor=OPERATOR,
        meta=filing.NewDocument(
            title="Seed", category="other", client_id=client.id, filename="seed.pdf"
        ),
        content=chunks(make_pdf("Seed", pages=1)),
    )
    now = datetime.now(UTC)
    table = Document.__table__  # type: ignore[attr-defined]
    number = 2
    left = documents - 1
    while left > 0:
        count = min(BATCH, left)
        rows = [
            {
                "org_id": org.id,
                "number": number + i,
                "client_id": client.id,
                "title": f"Document {number + i}",
                "category": "other",
                "filename": f"d{number + i}.pdf",
                "media_type": first.media_type,
                "size": first.size,
                "sha256": first.sha256,
                "blob_key": first.blob_key,
                "page_count": 1,
                "version_no": 1,
                "direction": "outbound",
                "created_at": now,
            }
            for i in range(count)
        ]
        async with env.sessions() as session, session.begin():
            await bulk.insert(session, table, rows)
        number += count
        left -= count
    async with env.sessions() as session, session.begin():
        row = await session.get(Organization, org.id)
        assert row is not None
        row.next_document_number = number
        session.add(row)
    issued = await api_keys.create_key(
        env, org_id=org.id, actor=OPERATOR, name="bench", scopes=["admin"]
    )
    async with env.sessions() as session, session.begin():
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # What autovacuum does to a table that grew this much: without statistics the
            # planner takes 100,000 rows for a few dozen and sorts them all for each page.
            await connection.exec_driver_sql("ANALYZE document")
    return org.id, client.id, issued.token


async def list_direct(env: Env, *, org_id: int, pages: int) -> float:
    after = None
    started = time.perf_counter()
    for _ in range(pages):
        page = await page_of(env, Document, org_id=org_id, after=after, limit=PAGE)
        assert len(page.rows) == PAGE
        after = page.next_after
    return pages / (time.perf_counter() - started)


async def list_api(http: aiohttp.ClientSession, base: str, key: str, *, pages: int) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    cursor = None
    started = time.perf_counter()
    for _ in range(pages):
        params = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{base}/documents", params=params, headers=headers) as response:
            assert response.status == 200, await response.text()
            body = await response.json()
        assert len(body["items"]) == PAGE
        cursor = body["next_cursor"]
    return pages / (time.perf_counter() - started)


async def upload_direct(env: Env, *, org_id: int, client_id: int, pdfs: list[bytes]) -> float:
    started = time.perf_counter()
    for n, pdf in enumerate(pdfs):
        await filing.upload_document(
            env,
            org_id=org_id,
            actor=OPERATOR,
            meta=filing.NewDocument(
                title=f"Direct {n}", category="other", client_id=client_id, filename="d.pdf"
            ),
            content=chunks(pdf),
        )
    return len(pdfs) / (time.perf_counter() - started)


async def upload_api(
    http: aiohttp.ClientSession, base: str, key: str, *, client_id: int, pdfs: list[bytes]
) -> float:
    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    for n, pdf in enumerate(pdfs):
        form = aiohttp.FormData()
        form.add_field("client_id", str(client_id))
        form.add_field("title", f"Api {n}")
        form.add_field("file", io.BytesIO(pdf), filename="a.pdf")
        async with http.post(f"{base}/documents", data=form, headers=headers) as response:
            assert response.status == 201, await response.text()
    return len(pdfs) / (time.perf_counter() - started)


async def floor_server(body: bytes) -> tuple[web.AppRunner, str]:
    """A bare aiohttp handler answering ``body`` as JSON: what HTTP alone costs."""

    async def page(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/documents", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def list_floor(http: aiohttp.ClientSession, base: str, *, pages: int) -> float:
    headers = {"Authorization": "Bearer none"}
    started = time.perf_counter()
    for _ in range(pages):
        params = {"limit": str(PAGE), "cursor": "MTIzNDU"}
        async with http.get(f"{base}/documents", params=params, headers=headers) as response:
            assert response.status == 200
            body = await response.json()
        assert len(body["items"]) == PAGE
    return pages / (time.perf_counter() - started)


async def rounds(
    count: int, first: Callable[[], Awaitable[float]], second: Callable[[], Awaitable[float]]
) -> tuple[float, float]:
    """The median rate of each of two measurements over ``count`` rounds, taking turns
    to go first."""
    firsts: list[float] = []
    seconds: list[float] = []
    for n in range(count):
        if n % 2 == 0:
            firsts.append(await first())
            seconds.append(await second())
        else:
            seconds.append(await second())
            firsts.append(await first())
    return statistics.median(firsts), statistics.median(seconds)


async def main(args: argparse.Namespace) -> None:
    print_load("start")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = args.postgres or sqlite_url(root / "inkpost.db")
        engine = make_engine(url)
        await migrate.upgrade(engine)
        env = Env(
            sessions=make_session_factory(engine),
            blobs=FileBlobStore(root / "blobs"),
            limits=Limits(),
        )
        seeded = time.perf_counter()
        org_id, client_id, key = await seed(env, documents=args.documents)
        print(f"store: {args.documents} documents in {time.perf_counter() - seeded:.1f} s")
        app = create_app(
            env=env,
            cache_dir=root / "cache",
            public_url="http://127.0.0.1",
            api_rate=RateLimit(per_minute=10**9, burst=10**9),
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1"
        per_round = max(1, args.uploads // args.rounds)
        pdfs = iter([make_pdf(f"Upload {n}", pages=3) for n in range(per_round * args.rounds * 2)])
        floor_runner = None
        try:
            async with aiohttp.ClientSession() as http:
                headers = {"Authorization": f"Bearer {key}"}
                async with http.get(f"{base}/documents?limit={PAGE}", headers=headers) as first:
                    floor_runner, floor_base = await floor_server(await first.read())
                await list_api(http, base, key, pages=10)  # connections and caches warm
                await list_direct(env, org_id=org_id, pages=10)
                direct_pages, api_pages = await rounds(
                    args.rounds,
                    lambda: list_direct(env, org_id=org_id, pages=args.pages),
                    lambda: list_api(http, base, key, pages=args.pages),
                )
                floor_pages = statistics.median(
                    [
                        await list_floor(http, floor_base, pages=args.pages)
                        for _ in range(args.rounds)
                    ]
                )
                direct_uploads, api_uploads = await rounds(
                    args.rounds,
                    lambda: upload_direct(
                        env,
                        org_id=org_id,
                        client_id=client_id,
                        pdfs=[next(pdfs) for _ in range(per_round)],
                    ),
                    lambda: upload_api(
                        http,
                        base,
                        key,
                        client_id=client_id,
                        pdfs=[next(pdfs) for _ in range(per_round)],
                    ),
                )
        finally:
            if floor_runner is not None:
                await floor_runner.cleanup()
            await runner.cleanup()
            await engine.dispose()
    best = 1 / (1 / direct_pages + 1 / floor_pages) / direct_pages
    print(f"list, page of {PAGE} (store of {args.documents}), median of {args.rounds} rounds:")
    print(f"  workflow page_of : {direct_pages:9.1f} pages/s")
    print(f"  GET /documents   : {api_pages:9.1f} pages/s")
    print(f"  ratio API/direct : {api_pages / direct_pages:9.2f}")
    print(f"  bare HTTP, same JSON, no key or store: {floor_pages:.1f} pages/s")
    print(f"  ratio if the API cost only that HTTP : {best:.2f}")
    print(f"upload, 3-page PDF, {per_round} per round:")
    print(f"  upload_document  : {direct_uploads:9.1f} uploads/s")
    print(f"  POST /documents  : {api_uploads:9.1f} uploads/s")
    print(f"  ratio API/direct : {api_uploads / direct_uploads:9.2f}")
    if args.webhooks:
        print(f"webhook deliveries to a local receiver ({args.webhook_events} events):")
        await webhook_bench.bench(args.webhook_events, 1, args.webhooks_postgres)
    print_load("end")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=300, help="pages walked per round")
    parser.add_argument("--uploads", type=int, default=100, help="uploads of each side in all")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="URL of an empty PostgreSQL database")
    parser.add_argument("--webhooks", action="store_true", help="also measure webhook deliveries")
    parser.add_argument("--webhook-events", type=int, default=2000)
    parser.add_argument(
        "--webhooks-postgres", default=None, help="another empty database for --webhooks"
    )
    args = parser.parse_args(argv)
    if args.documents < PAGE * (args.pages + 1):
        parser.error(f"--documents must hold more than --pages × {PAGE} documents")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.uploads < args.rounds:
        parser.error("--uploads must be at least --rounds (each round uploads some)")
    if args.webhook_events < 1:
        parser.error("--webhook-events must be at least 1")
    if args.webhooks_postgres and args.webhooks_postgres == args.postgres:
        parser.error("--webhooks-postgres must be another database than --postgres")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
