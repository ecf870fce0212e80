"""How fast the integration API lists and uploads documents, next to the same work done
by the workflow functions directly, in the same run.

    python bench/api.py [--documents 100000] [--pages 300] [--uploads 100] [--rounds 9]
                        [--postgres URL] [--instructions] [--webhooks] [--webhook-events 2000]

A store (SQLite under a temporary directory unless ``--postgres`` names an empty
database) gets ``--documents`` documents of one client, written in bulk. A server process
of its own, pinned to the first core, serves the web app (`web_sign.create_app`, with the
API under /api/v1) on a free loopback port, and runs the baseline too, on the same core,
while the app waits; the HTTP client runs in this process on the last core, as an
integration would run in a process of its own. Each figure is the median of
``--rounds`` rounds, the API and its baseline taking turns to go first in a round, so
that a burst of load elsewhere on the machine falls on both; each ratio is the median of
the rounds' own ratios, printed with their range. Reported, with the load average at
start and end:

- ``GET /api/v1/documents?limit=50`` pages per second, walking the cursor from the newest
  page on, ``--walkers`` (4) walks side by side, each one request after another, with an
  API key; the baseline is the same walks by `workflows.listing.page_of`. Side by side,
  the server is never idle between requests: its CPU time per request is then what a
  request costs, not what waking up for each one costs;
- two floors of that ratio on this machine, each with the ratio the API would reach if
  it cost no more: a bare aiohttp handler in the server process answering the bytes of
  one such page (no key, no store) to the same client, which is what the HTTP exchange
  costs; and a bare handler that also reads each page with `page_of` (still no key, no
  checks, no spelling), which adds what the same reads cost when they run between
  requests instead of in a tight loop. What the API costs beyond the second is what its
  own layers add: checking the key, the parameters and spelling the page;
- uploads per second of a 3-page PDF through ``POST /api/v1/documents`` (multipart,
  streamed); the baseline is `workflows.documents.filing.upload_document` with the same
  bytes;
- each ratio (API / baseline): what HTTP, authentication and JSON cost (goal: at most 30%
  over the direct call, a ratio of at least 0.77).

With ``--instructions`` the server process runs under valgrind's callgrind, and every
cost is the instructions it ran (in millions), not its CPU time: the same on any run,
however loaded the machine, where CPU time moves by a quarter from run to run on a
shared one. Callgrind runs the server some fifty times slower, so the run defaults to
two rounds (each side going first once) of 40 pages and 10 uploads a side; the rates it
prints then say nothing. Instructions leave out the kernel's work for each request, and
that a processor runs code that keeps changing (a request, a page, the next request)
slower than a loop kept hot in its caches. So CPU time stays what a server spends and
what the goal is judged by; instructions tell which part of the code a change made
cheaper, and by how much.

With ``--webhooks``, then the webhook worker's delivery rate to a local receiver, as
``bench/webhooks.py`` measures it (``--webhook-events`` events, on a SQLite store of its
own unless ``--webhooks-postgres`` names another empty database). ``--profile`` runs the
server process under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import enum
import io
import multiprocessing
import multiprocessing.resource_tracker
import multiprocessing.spawn
import os
import pstats
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from bench import webhooks as webhook_bench  # noqa: E402
from bench._load import print_load  # noqa: E402
from inkpost import event_loop  # noqa: E402
from inkpost.sample_pdf import make_pdf  # noqa: E402
from inkpost.server import start_up_heap_frozen  # noqa: E402
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
GOAL = 0.77
"""The API may cost at most 30% over the direct call: 1 / 1.3."""


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


async def list_direct(env: Env, *, org_id: int, pages: int, walkers: int) -> float:
    """``walkers`` walks side by side, ``pages`` pages in all."""

    async def walk(count: int) -> None:
        after = None
        for _ in range(count):
            page = await page_of(env, Document, org_id=org_id, after=after, limit=PAGE)
            assert len(page.rows) == PAGE
            after = page.next_after

    started = time.perf_counter()
    await asyncio.gather(*(walk(pages // walkers) for _ in range(walkers)))
    return pages // walkers * walkers / (time.perf_counter() - started)


async def list_api(
    http: aiohttp.ClientSession, base: str, key: str, *, pages: int, walkers: int
) -> float:
    """``walkers`` clients walking the pages side by side, ``pages`` pages in all."""
    headers = {"Authorization": f"Bearer {key}"}

    async def walk(count: int) -> None:
        cursor = None
        for _ in range(count):
            params = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
            async with http.get(f"{base}/documents", params=params, headers=headers) as response:
                assert response.status == 200, await response.text()
                body = await response.json()
            assert len(body["items"]) == PAGE
            cursor = body["next_cursor"]

    started = time.perf_counter()
    await asyncio.gather(*(walk(pages // walkers) for _ in range(walkers)))
    return pages // walkers * walkers / (time.perf_counter() - started)


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


async def list_floor(
    http: aiohttp.ClientSession, base: str, *, pages: int, walkers: int, read: bool = False
) -> float:
    """The walks through a bare handler (``/floor``): each page's bytes answered as they
    are; with ``read``, after reading the page with `page_of` (the next page's key in a
    header)."""
    headers = {"Authorization": "Bearer none"}

    async def walk(count: int) -> None:
        after = None
        for _ in range(count):
            params = {"limit": str(PAGE), "cursor": "MTIzNDU"}
            if read:
                params["read"] = str(after or 0)
            async with http.get(f"{base}/floor", params=params, headers=headers) as response:
                assert response.status == 200
                body = await response.json()
                after = int(response.headers["X-Next-After"])
            assert len(body["items"]) == PAGE

    started = time.perf_counter()
    await asyncio.gather(*(walk(pages // walkers) for _ in range(walkers)))
    return pages // walkers * walkers / (time.perf_counter() - started)


@dataclass(frozen=True)
class Figure:
    rate: float
    """Pages (or uploads) per second, one after another."""
    cost: float
    """What the server process spent on each (all its threads): CPU time in
    milliseconds, or millions of instructions under `Callgrind`."""


async def rounds(
    count: int, first: Callable[[], Awaitable[Figure]], second: Callable[[], Awaitable[Figure]]
) -> tuple[list[Figure], list[Figure]]:
    """Each round's figures of two measurements, over ``count`` rounds, taking turns to go
    first."""
    firsts: list[Figure] = []
    seconds: list[Figure] = []
    for n in range(count):
        if n % 2 == 0:
            firsts.append(await first())
            seconds.append(await second())
        else:
            seconds.append(await second())
            firsts.append(await first())
    return firsts, seconds


def _median(figures: list[Figure]) -> Figure:
    return Figure(
        rate=statistics.median(f.rate for f in figures),
        cost=statistics.median(f.cost for f in figures),
    )


# -- the server process -----------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    url: str
    root: Path
    org_id: int
    client_id: int


def serve(store: Store, conn: Connection, core: int, profile: Path | None) -> None:
    """The server process: the app on a free port (sent back first), and the baseline
    measurements asked for through ``conn``, until it is told to stop; with ``profile``,
    under cProfile, whose figures it writes there."""
    os.sched_setaffinity(0, {core})
    # CPU time, not wall time: on a shared machine the wall clock also counts the time
    # other processes held the core, which no function of ours spent.
    profiler = cProfile.Profile(time.process_time) if profile is not None else None
    if profiler is not None:
        profiler.enable()
    event_loop.run(_serve(store, conn))  # the loop `inkpost serve` runs on
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)


async def _serve(store: Store, conn: Connection) -> None:
    engine = make_engine(store.url)
    env = Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(store.root / "blobs"),
        limits=Limits(),
    )
    app = create_app(
        env=env,
        cache_dir=store.root / "cache",
        public_url="http://127.0.0.1",
        api_rate=RateLimit(per_minute=10**9, burst=10**9),
    )
    floor_body: list[bytes] = []

    async def floor(request: web.Request) -> web.Response:
        """What HTTP alone costs: the bytes of a page, no key, no store; with ``read``
        (the key to read after, 0 for the first page), what HTTP and the reads cost."""
        after = 0
        if "read" in request.query:
            page = await page_of(
                env,
                Document,
                org_id=store.org_id,
                after=int(request.query["read"]) or None,
                limit=PAGE,
            )
            after = page.next_after or 0
        return web.Response(
            body=floor_body[0],
            content_type="application/json",
            headers={"X-Next-After": str(after)},
        )

    app.router.add_get("/floor", floor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conn.send(runner.addresses[0][1])
    loop = asyncio.get_running_loop()
    try:
        # As `inkpost serve` does, for the API and the direct calls alike: what
        # start-up loaded is kept out of the cyclic collector's sight while serving.
        with start_up_heap_frozen():
            while True:
                command, argument = await loop.run_in_executor(None, conn.recv)
                if command == "stop":
                    break
                if command == "floor":
                    floor_body[:] = [argument]
                    conn.send(None)
                elif command == "cpu":
                    conn.send(time.process_time())
                elif command == "list":
                    pages, walkers = argument
                    cpu = time.process_time()
                    rate = await list_direct(env, org_id=store.org_id, pages=pages, walkers=walkers)
                    conn.send(Figure(rate, (time.process_time() - cpu) * 1000 / pages))
                elif command == "upload":
                    cpu = time.process_time()
                    rate = await upload_direct(
                        env, org_id=store.org_id, client_id=store.client_id, pdfs=argument
                    )
                    conn.send(Figure(rate, (time.process_time() - cpu) * 1000 / len(argument)))
    finally:
        await runner.cleanup()
        await engine.dispose()


class Callgrind:
    """valgrind's callgrind around the server process: `count` tells how many
    instructions it ran during some work; nothing is counted in between."""

    def __init__(self, folder: Path) -> None:
        missing = [tool for tool in ("valgrind", "callgrind_control") if not shutil.which(tool)]
        if missing:
            raise SystemExit(
                f"--instructions needs {' and '.join(missing)}, from Debian's package valgrind"
            )
        self.counts = folder / "callgrind.out"
        self.python = folder / "python-under-callgrind"
        """What the server process is started with: this Python under callgrind."""
        self.python.write_text(
            "#!/bin/sh\n"
            "exec valgrind --tool=callgrind --instr-atstart=no --quiet "
            f"--callgrind-out-file={shlex.quote(str(self.counts))} "
            f'{shlex.quote(sys.executable)} "$@"\n'
        )
        self.python.chmod(0o755)
        self._dumps = 0

    async def count(self, pid: int, work: Awaitable[Any]) -> tuple[Any, int]:
        """What ``work`` gives, and the instructions process ``pid`` ran meanwhile."""
        await self._control(pid, "--instr=on")
        try:
            result = await work
        finally:
            await self._control(pid, "--instr=off")
        await self._control(pid, "--dump")
        self._dumps += 1
        return result, _totals(self.counts.with_name(f"{self.counts.name}.{self._dumps}"))

    @staticmethod
    async def _control(pid: int, option: str) -> None:
        process = await asyncio.create_subprocess_exec(
            "callgrind_control",
            option,
            str(pid),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, error = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"callgrind_control {option} failed: {error.decode().strip()}")


def _totals(dump: Path) -> int:
    """The instructions a callgrind dump counted."""
    with dump.open() as lines:
        for line in lines:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"{dump} holds no totals")


class Server:
    """The server process, seen from the client's side."""

    def __init__(
        self, store: Store, *, profile: Path | None = None, callgrind: Callgrind | None = None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(store, theirs, 0, profile))
        self.callgrind = callgrind
        python = multiprocessing.spawn.get_executable()
        if callgrind is not None:
            # Started now, or the first process spawned would start it under callgrind too.
            multiprocessing.resource_tracker.ensure_running()
            context.set_executable(str(callgrind.python))
        try:
            self.process.start()
        finally:
            context.set_executable(python)
        # Under callgrind, Python starts and imports some ten times slower.
        if not self.conn.poll(120 if callgrind is None else 1200):
            self.process.kill()
            raise RuntimeError("the server process did not start")
        self.base = f"http://127.0.0.1:{self.conn.recv()}"

    async def ask(self, command: str, argument: object) -> Any:
        self.conn.send((command, argument))
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    async def served(self, count: int, work: Awaitable[float]) -> Figure:
        """The rate of ``work`` (``count`` requests) and the server's cost of each."""
        if self.callgrind is not None:
            rate, instructions = await self._counted(work)
            return Figure(rate, instructions / 1e6 / count)
        before = await self.ask("cpu", None)
        rate = await work
        return Figure(rate, (await self.ask("cpu", None) - before) * 1000 / count)

    async def direct(self, command: str, argument: object, count: int) -> Figure:
        """The server's run of a baseline (``count`` calls) and its cost of each."""
        if self.callgrind is not None:
            figure, instructions = await self._counted(self.ask(command, argument))
            return Figure(figure.rate, instructions / 1e6 / count)
        figure: Figure = await self.ask(command, argument)
        return figure

    async def _counted(self, work: Awaitable[Any]) -> tuple[Any, int]:
        assert self.callgrind is not None and self.process.pid is not None
        return await self.callgrind.count(self.process.pid, work)

    def stop(self) -> None:
        if self.process.is_alive():
            self.conn.send(("stop", None))
            self.process.join(60 if self.callgrind is None else 600)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


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
        await engine.dispose()
        print(f"store: {args.documents} documents in {time.perf_counter() - seeded:.1f} s")
        profile = root / "server.prof" if args.profile else None
        callgrind = Callgrind(root) if args.instructions else None
        server = Server(
            Store(url=url, root=root, org_id=org_id, client_id=client_id),
            profile=profile,
            callgrind=callgrind,
        )
        cores = os.cpu_count() or 1
        os.sched_setaffinity(0, {cores - 1})
        base = server.base + "/api/v1"
        walkers = args.walkers
        pages = args.pages // walkers * walkers
        per_round = max(1, args.uploads // args.rounds)
        count = (per_round * args.rounds + 1) * 2  # one more of each to warm up
        pdfs = iter([make_pdf(f"Upload {n}", pages=3) for n in range(count)])
        try:
            async with aiohttp.ClientSession() as http:
                headers = {"Authorization": f"Bearer {key}"}
                async with http.get(f"{base}/documents?limit={PAGE}", headers=headers) as first:
                    await server.ask("floor", await first.read())
                # connections and caches warm
                await list_api(http, base, key, pages=10 * walkers, walkers=walkers)
                await server.ask("list", (10 * walkers, walkers))
                await upload_api(http, base, key, client_id=client_id, pdfs=[next(pdfs)])
                await server.ask("upload", [next(pdfs)])
                direct_pages, api_pages = await rounds(
                    args.rounds,
                    lambda: server.direct("list", (pages, walkers), pages),
                    lambda: server.served(
                        pages, list_api(http, base, key, pages=pages, walkers=walkers)
                    ),
                )
                floors = [
                    _median(
                        [
                            await server.served(
                                pages,
                                list_floor(
                                    http, server.base, pages=pages, walkers=walkers, read=read
                                ),
                            )
                            for _ in range(args.rounds)
                        ]
                    )
                    for read in (False, True)
                ]
                direct_uploads, api_uploads = await rounds(
                    args.rounds,
                    lambda: server.direct(
                        "upload", [next(pdfs) for _ in range(per_round)], per_round
                    ),
                    lambda: server.served(
                        per_round,
                        upload_api(
                            http,
                            base,
                            key,
                            client_id=client_id,
                            pdfs=[next(pdfs) for _ in range(per_round)],
                        ),
                    ),
                )
        finally:
            server.stop()
        if profile is not None:
            print("where the server process spent its time (baselines included):")
            pstats.Stats(str(profile)).sort_stats("tottime").print_stats(30)
    cost = Cost.INSTRUCTIONS if callgrind is not None else Cost.CPU
    if callgrind is not None:
        print("costs in instructions the server ran, counted by callgrind; its rates say nothing")
    print(
        f"list, page of {PAGE} (store of {args.documents}), {walkers} walks side by side, "
        f"median of {args.rounds} rounds:"
    )
    _compare(cost, "workflow page_of", "GET /documents", "pages", direct_pages, api_pages)
    direct = _median(direct_pages).cost
    bare, reading = floors
    print(
        f"  bare HTTP, same JSON, no key or store: {bare.rate:.1f} pages/s, "
        f"{cost.of(bare.cost)} each; the cost ratio if the API cost only that: "
        f"{direct / (direct + bare.cost):.2f}"
    )
    print(
        f"  the same, reading each page with page_of: {reading.rate:.1f} pages/s, "
        f"{cost.of(reading.cost)} each; the cost ratio if the API cost only that: "
        f"{direct / reading.cost:.2f}"
    )
    print(
        f"  what the API adds to that (key, checks, spelling): "
        f"{cost.of(_median(api_pages).cost - reading.cost).strip()} a page"
    )
    print(f"upload, 3-page PDF, {per_round} per round:")
    _compare(cost, "upload_document", "POST /documents", "uploads", direct_uploads, api_uploads)
    if args.webhooks:
        print(f"webhook deliveries to a local receiver ({args.webhook_events} events):")
        await webhook_bench.bench(args.webhook_events, 1, args.webhooks_postgres)
    print_load("end")


class Cost(enum.Enum):
    """What a figure's cost counts."""

    CPU = "ms of CPU"
    INSTRUCTIONS = "M instructions"

    def of(self, cost: float) -> str:
        return f"{cost:6.2f} {self.value}"


def _compare(
    cost: Cost,
    direct_name: str,
    api_name: str,
    unit: str,
    directs: list[Figure],
    apis: list[Figure],
) -> None:
    """Both rates, both costs, and the ratios; the goal is on the cost: what the server
    spends on a request next to what the direct call spends (the client's own work,
    parsing the answer, is the integration's, and waiting on the other process is
    nobody's). Each ratio is the median of the rounds' own: a round's two measurements
    are a second apart, so a change in the machine's speed over the run (other work on
    the host) falls on both sides of a round's ratio, where it would fall on one median
    and not the other."""
    direct, api = _median(directs), _median(apis)
    for name, figure in ((direct_name, direct), (api_name, api)):
        print(f"  {name:17}: {figure.rate:9.1f} {unit}/s, {cost.of(figure.cost)} each")
    rates = [a.rate / d.rate for d, a in zip(directs, apis, strict=True)]
    costs = [d.cost / a.cost for d, a in zip(directs, apis, strict=True)]
    print(f"  rate ratio API/direct : {statistics.median(rates):.2f}")
    ratio = statistics.median(costs)
    verdict = "ok" if ratio >= GOAL else "BELOW GOAL"
    print(
        f"  cost ratio direct/API : {ratio:.2f} (goal >= {GOAL:.2f}) {verdict}; "
        f"rounds {min(costs):.2f} to {max(costs):.2f}"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument(
        "--pages", type=int, default=None, help="pages walked per round (300; 40 counting)"
    )
    parser.add_argument(
        "--uploads", type=int, default=None, help="uploads of each side in all (100; 20 counting)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (9; 2 counting)")
    parser.add_argument(
        "--walkers", type=int, default=4, help="lists walked side by side (clients of the API)"
    )
    parser.add_argument("--postgres", default=None, help="URL of an empty PostgreSQL database")
    parser.add_argument("--webhooks", action="store_true", help="also measure webhook deliveries")
    parser.add_argument(
        "--profile", action="store_true", help="run the server under cProfile and print it"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the server's instructions with valgrind's callgrind instead of its CPU time",
    )
    parser.add_argument("--webhook-events", type=int, default=2000)
    parser.add_argument(
        "--webhooks-postgres", default=None, help="another empty database for --webhooks"
    )
    args = parser.parse_args(argv)
    counting = args.instructions
    if args.pages is None:
        args.pages = 40 if counting else 300
    if args.uploads is None:
        args.uploads = 20 if counting else 100
    if args.rounds is None:
        args.rounds = 2 if counting else 9
    if args.profile and args.instructions:
        parser.error("--profile and --instructions measure the server two ways: choose one")
    if args.documents < PAGE * (args.pages + 1):
        parser.error(f"--documents must hold more than --pages × {PAGE} documents")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not 1 <= args.walkers <= args.pages:
        parser.error("--walkers must be between 1 and --pages")
    if args.uploads < args.rounds:
        parser.error("--uploads must be at least --rounds (each round uploads some)")
    if args.webhook_events < 1:
        parser.error("--webhook-events must be at least 1")
    if args.webhooks_postgres and args.webhooks_postgres == args.postgres:
        parser.error("--webhooks-postgres must be another database than --postgres")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
