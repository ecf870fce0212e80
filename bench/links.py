"""How fast link pages, downloads and signing pages are served, next to a bare
``web.FileResponse`` of the same file measured in the same run.

    python bench/links.py [--seconds 3] [--rounds 3] [--postgres URL] [--profile]
    python bench/links.py --postgres URL --processes 2

Sets up a temporary SQLite store (or, with ``--postgres``, a temporary database on that
PostgreSQL server, dropped afterwards) with file blobs, uploads a ~4 KB and a ~5 MB PDF,
makes a link to each (without a download limit) and a signature request over the small
one, and starts the Inkpost app (``create_app``, with its ``AccessRecorder``, as
``inkpost serve`` runs it) and a bare aiohttp app whose one handler answers
``web.FileResponse`` of the blob file, each in a server process of its own pinned to the
first core. The load comes from ``wrk`` (an outside load generator) pinned to the last
core, so client and server do not share a core.

Each round measures, at 1, 16 and 64 connections: both files from the bare app and from
``/d/{token}/file``, the ``/d/{token}`` page, the signing page ``/s/{token}`` and one of
its document pages. Three rounds; medians reported, each ratio taken against the bare
``FileResponse`` of the same round. Goals:

- ``/d/{token}/file`` >= 0.5 x bare for 4 KB at 16 connections, >= 0.9 x for 5 MB,
- ``/d/{token}`` pages >= 2,000/s at 16 connections,
- signing pages cost at most 1.5 x a ``/d/{token}`` page (their rate >= 1/1.5 of it).

At the end the audit trail is checked: every page and file answered has its event (a
request still in flight when a run stops may be recorded without its answer being
counted), and the chain verifies.

``--processes N`` (meant for PostgreSQL) measures instead ``/d/{token}`` pages served by
1 to N server processes sharing the port, as several ``inkpost serve`` processes would.
``--profile`` runs the Inkpost server under cProfile and prints where its time went.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import ctypes
import io
import logging
import multiprocessing
import os
import pstats
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pypdfium2 as pdfium  # noqa: E402
import pypdfium2.raw as pdfium_raw  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import func, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from inkpost import event_loop  # noqa: E402
from inkpost.sample_pdf import make_pdf  # noqa: E402
from inkpost.server import start_up_heap_frozen  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import FileBlobStore  # noqa: E402
from storage.db import make_engine, make_session_factory, sqlite_url  # noqa: E402
from storage.models import AuditEvent  # noqa: E402
from web_sign import create_app  # noqa: E402
from workflows import audit  # noqa: E402
from workflows.context import Actor, Env, Limits  # noqa: E402
from workflows.documents import filing  # noqa: E402
from workflows.people import organizations  # noqa: E402
from workflows.sharing import links  # noqa: E402
from workflows.signing import creation  # noqa: E402
from workflows.signing.creation import NewParty, NewRequest  # noqa: E402

BENCH = Actor.system("bench")
NOISE_SIDE = 1300  # 1300 x 1300 RGB of noise: ~5 MB that does not compress
WRK = "/usr/bin/wrk"
CONNECTIONS = (1, 16, 64)
GOAL_SMALL, GOAL_LARGE, GOAL_PAGES, GOAL_SIGNING = 0.5, 0.9, 2000.0, 1.5
SECRET = "bench-secret"


# -- what is served -------------------------------------------------------------------------


def five_megabyte_pdf() -> bytes:
    """A real 4-page PDF: three pages of text and one of incompressible image noise."""
    pdf = pdfium.PdfDocument(make_pdf("Benchmark document", pages=3, lines=["5 MB"]))
    try:
        page = pdf.new_page(595.0, 842.0)
        side = NOISE_SIDE
        pixels = (ctypes.c_ubyte * (side * side * 3)).from_buffer_copy(os.urandom(side * side * 3))
        bitmap = pdfium.PdfBitmap.new_native(side, side, pdfium_raw.FPDFBitmap_BGR, buffer=pixels)
        image = pdfium.PdfImage.new(pdf)
        image.set_bitmap(bitmap)
        image.set_matrix(pdfium.PdfMatrix().scale(400, 400).translate(97, 300))
        page.insert_obj(image)
        page.gen_content()
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        pdf.close()


def four_kilobyte_pdf() -> bytes:
    """A text PDF of about 4 KB."""
    pages = 1
    while len(pdf := make_pdf("Small benchmark document", pages=pages, lines=["4 KB"])) < 4000:
        pages += 1
    return pdf


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start : start + 256 * 1024]


@dataclass(frozen=True)
class Fixture:
    """What the servers serve: the database, the blob store and the tokens."""

    url: str
    blob_dir: Path
    cache_dir: Path
    small: tuple[str, Path]
    """The 4 KB document's link token and blob file."""
    large: tuple[str, Path]
    sign_token: str
    sign_document_id: int


@contextlib.asynccontextmanager
async def database(workdir: Path, postgres: str | None) -> AsyncIterator[str]:
    """A SQLite file in ``workdir``, or a database of its own on a PostgreSQL server."""
    if postgres is None:
        yield sqlite_url(workdir / "inkpost.db")
        return
    name = f"inkpost_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(postgres, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{postgres.rsplit('/', 1)[0]}/{name}"
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


def _env(url: str, blob_dir: Path) -> tuple[Env, AsyncEngine]:
    engine = make_engine(url)
    env = Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(blob_dir),
        limits=Limits(max_upload_bytes=50 * 1024 * 1024),
    )
    return env, engine


async def prepare(url: str, workdir: Path) -> Fixture:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    env, engine = _env(url, workdir / "blobs")
    org = await organizations.create_organization(env, slug="bench", name="Bench Law", actor=BENCH)
    assert org.id is not None
    staff = await organizations.add_staff(
        env, org_id=org.id, actor=BENCH, name="Bench Staff", email="staff@bench.test"
    )
    assert staff.id is not None
    client = await organizations.add_client(env, org_id=org.id, actor=BENCH, name="Bench Client")
    assert client.id is not None

    async def shared(title: str, content: bytes) -> tuple[int, str, Path]:
        assert org.id is not None and client.id is not None
        document = await filing.upload_document(
            env,
            org_id=org.id,
            actor=BENCH,
            meta=filing.NewDocument(
                title=title, category="contract", client_id=client.id, filename=f"{title}.pdf"
            ),
            content=_chunks(content),
        )
        assert document.id is not None
        link = await links.create_link(env, org_id=org.id, actor=BENCH, document_id=document.id)
        assert link.token is not None
        path = env.blobs.local_path(document.blob_key)
        assert path is not None
        return document.id, link.token, path

    small_id, small_token, small_path = await shared("small", four_kilobyte_pdf())
    _, large_token, large_path = await shared("large", five_megabyte_pdf())
    request = await creation.create_request(
        env,
        org_id=org.id,
        actor=BENCH,
        staff_id=staff.id,
        new=NewRequest(
            document_ids=[small_id],
            parties=[NewParty(role="signer", name="Bench Signer", phone="+46 70 123 45 67")],
        ),
    )
    await engine.dispose()
    return Fixture(
        url=url,
        blob_dir=workdir / "blobs",
        cache_dir=workdir / "cache",
        small=(small_token, small_path),
        large=(large_token, large_path),
        sign_token=request.parties[0].token,
        sign_document_id=small_id,
    )


# -- the servers, each in a process of its own ------------------------------------------------


def bare_app(files: dict[str, Path]) -> web.Application:
    async def send(request: web.Request) -> web.FileResponse:
        return web.FileResponse(files[request.match_info["name"]])

    app = web.Application()
    app.router.add_get("/{name}", send)
    return app


def serve(
    fixture: Fixture, *, port: int, bare: bool, core: int, profile: Path | None, ready: Event,
    stop: Event,
) -> None:  # fmt: skip
    """A server process: the Inkpost app (or the bare one) on ``port`` until ``stop``."""
    os.sched_setaffinity(0, {core})
    logging.basicConfig(level=logging.WARNING)
    # CPU time, not wall time: on a shared machine the wall clock also counts the time
    # other processes held the core, which no function of ours spent.
    profiler = cProfile.Profile(time.process_time) if profile is not None else None
    if profiler is not None:
        profiler.enable()
    # The loop `inkpost serve` runs on, for the bare server too: like with like.
    event_loop.run(_serve(fixture, port=port, bare=bare, ready=ready, stop=stop))
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)


async def _serve(fixture: Fixture, *, port: int, bare: bool, ready: Event, stop: Event) -> None:
    if bare:
        app = bare_app({"small": fixture.small[1], "large": fixture.large[1]})
    else:
        env, engine = _env(fixture.url, fixture.blob_dir)
        app = create_app(
            env=env,
            cache_dir=fixture.cache_dir,
            public_url="http://127.0.0.1",
            secret_key=SECRET,
        )

        async def dispose(_: web.Application) -> None:
            await engine.dispose()

        app.on_cleanup.append(dispose)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    # As `inkpost serve` does (the bare server too, to compare like with like): what
    # start-up loaded is kept out of the cyclic collector's sight while serving.
    with start_up_heap_frozen():
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
    await runner.cleanup()


@contextlib.contextmanager
def servers(
    fixture: Fixture, *, count: int = 1, bare: bool = False, profile: Path | None = None
) -> Iterator[str]:
    """``count`` server processes sharing one port, the i-th pinned to core i; yields the
    base URL."""
    context = multiprocessing.get_context("spawn")
    port = _free_port()
    stop = context.Event()
    started = []
    for i in range(count):
        ready = context.Event()
        process = context.Process(
            target=serve,
            args=(fixture,),
            kwargs={
                "port": port,
                "bare": bare,
                "core": i % _cores(),
                "profile": profile if i == 0 else None,
                "ready": ready,
                "stop": stop,
            },
        )
        process.start()
        started.append(process)
        if not ready.wait(60):
            raise RuntimeError("a server process did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        for process in started:
            process.join(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cores() -> int:
    return os.cpu_count() or 1


# -- the load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    answered: int
    """Responses with a 2xx or 3xx status."""
    failed: int
    """Other statuses and socket errors."""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url: str, *, connections: int, seconds: int) -> Run:
    """One ``wrk`` run on the last core."""
    last = _cores() - 1
    out = subprocess.run(
        [WRK, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {last}),
    ).stdout
    total = int(_find(r"(\d+) requests in", out))
    bad = int(_find(r"Non-2xx or 3xx responses: (\d+)", out, default="0"))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Run(
        rate=float(_find(r"Requests/sec:\s+([\d.]+)", out)),
        p50_ms=_latency(_find(r"50%\s+([\d.]+\w+)", out)),
        p99_ms=_latency(_find(r"99%\s+([\d.]+\w+)", out)),
        answered=total - bad,
        failed=bad + errors,
    )


def _find(pattern: str, out: str, default: str | None = None) -> str:
    found = re.search(pattern, out)
    if found is None:
        if default is not None:
            return default
        raise RuntimeError(f"wrk said something unexpected:\n{out}")
    return found.group(1)


def _latency(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


@dataclass
class Series:
    """The runs of one measurement across rounds."""

    name: str
    connections: int
    runs: list[Run]
    baseline: Series | None = None
    """What the ratio is taken against, run for run."""

    @property
    def rate(self) -> float:
        return statistics.median(r.rate for r in self.runs)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None:
            return None
        return statistics.median(
            mine.rate / base.rate
            for mine, base in zip(self.runs, self.baseline.runs, strict=True)
            if base.rate
        )


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def suite(fixture: Fixture, args: argparse.Namespace) -> list[Series]:
    """Every measurement, ``args.rounds`` times, bare and Inkpost side by side."""
    small, large = fixture.small[0], fixture.large[0]
    sign = f"/s/{fixture.sign_token}"
    table: dict[tuple[str, int], Series] = {}
    profile = Path(tempfile.gettempdir()) / f"inkpost-bench-{os.getpid()}.prof"
    with (
        servers(fixture, bare=True) as bare,
        servers(fixture, profile=profile if args.profile else None) as ours,
    ):
        plan: list[tuple[str, str, str | None]] = [
            ("bare 4 KB", f"{bare}/small", None),
            ("/d/{token}/file 4 KB", f"{ours}/d/{small}/file", "bare 4 KB"),
            ("bare 5 MB", f"{bare}/large", None),
            ("/d/{token}/file 5 MB", f"{ours}/d/{large}/file", "bare 5 MB"),
            ("/d/{token} page", f"{ours}/d/{small}", "bare 4 KB"),
            ("/s/{token} page", f"{ours}{sign}", "/d/{token} page"),
            (
                "/s/{token}/doc page",
                f"{ours}{sign}/doc/{fixture.sign_document_id}",
                "/d/{token} page",
            ),
        ]
        for _, url, _ in plan:  # warm up: templates, connections, page cache
            wrk(url, connections=4, seconds=1)
        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}/{args.rounds}, load average {load_average()}", flush=True)
            for connections in CONNECTIONS:
                for name, url, against in plan:
                    run = wrk(url, connections=connections, seconds=args.seconds)
                    key = (name, connections)
                    series = table.setdefault(key, Series(name, connections, []))
                    series.runs.append(run)
                    if against is not None:
                        series.baseline = table[(against, connections)]
    if args.profile:
        print("\nInkpost server profile (top 30 by internal time):")
        pstats.Stats(str(profile)).sort_stats("tottime").print_stats(30)
        profile.unlink(missing_ok=True)
    return list(table.values())


def report(table: list[Series]) -> None:
    print(
        f"\n{'endpoint':<24}{'conns':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'ratio':>8}  against"
    )
    for s in table:
        p50 = statistics.median(r.p50_ms for r in s.runs)
        p99 = statistics.median(r.p99_ms for r in s.runs)
        ratio = f"{s.ratio:>8.2f}" if s.ratio is not None else f"{'':>8}"
        against = s.baseline.name if s.baseline is not None else ""
        failed = sum(r.failed for r in s.runs)
        print(
            f"{s.name:<24}{s.connections:>6}{s.rate:>10.0f}{p50:>9.2f}{p99:>9.2f}{ratio}  "
            f"{against}{f'  ({failed} failed)' if failed else ''}"
        )
    found = {(s.name, s.connections): s for s in table}
    print("\ngoals, at 16 connections:")
    _goal("4 KB file / bare", found[("/d/{token}/file 4 KB", 16)].ratio, GOAL_SMALL)
    _goal("5 MB file / bare", found[("/d/{token}/file 5 MB", 16)].ratio, GOAL_LARGE)
    _goal("/d/{token} pages per second", found[("/d/{token} page", 16)].rate, GOAL_PAGES)
    for name in ("/s/{token} page", "/s/{token}/doc page"):
        _goal(f"{name} rate / /d page rate", found[(name, 16)].ratio, 1 / GOAL_SIGNING)


def _goal(what: str, value: float | None, goal: float) -> None:
    shown = "-" if value is None else f"{value:.2f}"
    verdict = "ok" if value is not None and value >= goal else "BELOW GOAL"
    print(f"  {what}: {shown} (goal >= {goal:.2f}) {verdict}")


async def check_audit_trail(fixture: Fixture, table: list[Series]) -> None:
    """Every page and file answered has its durable event; the chain verifies."""
    env, engine = _env(fixture.url, fixture.blob_dir)
    async with env.sessions() as session:
        counted = await session.exec(
            select(AuditEvent.action, func.count()).group_by(col(AuditEvent.action))
        )
        events = dict(counted.all())
    org_id = (await organizations.get_organization(env, slug="bench")).id
    assert org_id is not None
    chain = await audit.verify_chain(env, org_id=org_id)
    await engine.dispose()

    def answered(*names: str) -> tuple[int, int]:
        runs = [(r, s.connections) for s in table if s.name in names for r in s.runs]
        return sum(r.answered for r, _ in runs), sum(c for _, c in runs)

    pages, page_slack = answered("/d/{token} page")
    files, file_slack = answered("/d/{token}/file 4 KB", "/d/{token}/file 5 MB")
    opened, downloaded = events.get("document.opened", 0), events.get("document.downloaded", 0)
    # Warm-up runs and requests in flight when a run stopped are recorded, not counted.
    warm = 4 * 20_000
    ok = (
        pages <= opened <= pages + page_slack + warm
        and files <= downloaded <= files + file_slack + warm
        and chain.ok
    )
    print(
        f"\naudit trail: {opened} opens for {pages} pages answered, {downloaded} downloads "
        f"for {files} files answered, chain of {chain.events} events "
        f"{'verifies' if chain.ok else 'BROKEN'}: {'ok' if ok else 'MISMATCH'}"
    )


def processes_suite(fixture: Fixture, args: argparse.Namespace) -> None:
    """``/d/{token}`` pages served by 1 to ``args.processes`` server processes."""
    url_of: Callable[[str], str] = lambda base: f"{base}/d/{fixture.small[0]}"  # noqa: E731
    rates: dict[tuple[int, int], list[float]] = {}
    for count in range(1, args.processes + 1):
        with servers(fixture, count=count) as base:
            wrk(url_of(base), connections=4, seconds=1)
            for round_ in range(1, args.rounds + 1):
                print(
                    f"{count} process(es), round {round_}/{args.rounds}, "
                    f"load average {load_average()}",
                    flush=True,
                )
                for connections in (16, 64):
                    run = wrk(url_of(base), connections=connections, seconds=args.seconds)
                    rates.setdefault((count, connections), []).append(run.rate)
    print(f"\n{'processes':<12}{'conns':>6}{'pages/s':>10}{'vs 1 process':>14}")
    for (count, connections), runs in sorted(rates.items()):
        one = statistics.median(rates[(1, connections)])
        rate = statistics.median(runs)
        print(f"{count:<12}{connections:>6}{rate:>10.0f}{rate / one:>14.2f}")
    print(
        f"(servers pinned to cores 0..{args.processes - 1} in turn, wrk to core "
        f"{_cores() - 1}: with more processes than free cores they share with the load)"
    )


async def _setup_and_run(args: argparse.Namespace, workdir: Path) -> None:
    async with database(workdir, args.postgres) as url:
        fixture = await prepare(url, workdir)
        backend = "PostgreSQL" if args.postgres else "SQLite"
        print(
            f"{backend}; 4 KB file {fixture.small[1].stat().st_size} bytes, 5 MB file "
            f"{fixture.large[1].stat().st_size / 1e6:.2f} MB; {args.seconds} s per run, "
            f"{args.rounds} rounds, medians; {_cores()} CPUs; servers on "
            f"{'uvloop' if event_loop.loop_factory() else 'asyncio'}",
            flush=True,
        )
        loop = asyncio.get_running_loop()
        if args.processes > 1:
            await loop.run_in_executor(None, processes_suite, fixture, args)
            return
        table = await loop.run_in_executor(None, suite, fixture, args)
        report(table)
        await check_audit_trail(fixture, table)


def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    if not Path(WRK).exists():
        raise SystemExit(f"this benchmark needs wrk at {WRK}")
    print(f"load average at start: {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="inkpost-bench-") as tmp:
        asyncio.run(_setup_and_run(args, Path(tmp)))
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="length of each run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL (postgresql+asyncpg://user@host:port/db) on which to "
        "create and drop a temporary database, instead of SQLite",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="measure /d/{token} pages served by 1 to this many server processes",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the Inkpost server")
    parsed = parser.parse_args()
    if parsed.seconds <= 0 or parsed.rounds < 1 or parsed.processes < 1:
        parser.error("--seconds must be positive, --rounds and --processes at least 1")
    main(parsed)
