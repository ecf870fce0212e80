"""How fast one document reaches a group of Telegram recipients through the outbox.

    python bench/fanout.py [--n 2000] [--crash] [--enqueue-only [--repeat 3]] [--postgres URL]
    python bench/fanout.py --processes 2 [--postgres URL]

Sets up a temporary SQLite store (or, with ``--postgres``, a temporary database on that
PostgreSQL server, dropped afterwards) with one organisation, N recipients linked to
Telegram chats, a group of them all and one PDF. The fake Bot API runs in this process
with Telegram's flood limits (30 messages/s overall, 1/s per private chat, 429 +
``retry_after`` beyond them); the delivery runs in the real serving process, ``python -m
inkpost serve`` pointed at the fake through ``INKPOST_TELEGRAM_API_URL``. Then it shares
the document with the group and reports:

- time to enqueue (``share_with_group``; goal: under 1 s per 10,000 recipients),
- delivery rate from the first to the last notice at the fake, as a fraction of 30/s
  (goal >= 0.93),
- 429s the fake answered (goal 0), chats that got no notice (lost, goal 0) and chats
  that got more than one (duplicated, goal 0).

``--enqueue-only`` times only the enqueue, ``--repeat`` times over (a new document each
time), with no serving process and no delivery. Beside it, as the baseline, it prints what
the database alone takes to store the same rows: they are copied inside the database by
one ``INSERT ... SELECT`` per table and committed (then removed), so nothing of Python,
the driver or the network is in that figure.

``--processes N`` runs N serving processes on the one store and the one bot, as an
installation scaled out does. Telegram's limits are per bot, so together they must still
stay under 30/s: the figures are the combined rate and the 429s, as for one process
(only the process holding the bot's role, ``inkpost.roles``, sends through it).

``--crash`` kills the serving process with SIGKILL halfway, at the worst moment: as the
fake accepts notice N/2 and before its answer leaves, so the worker never learns that it
was sent. Then it starts another: still nothing lost, at most one duplicate per killed
worker (that notice). Rows the dead worker had claimed wait for their lease
(``workflows.outbox.claims.LEASE``) to end before the new process takes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import func, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from bench._load import print_load  # noqa: E402
from bench.links import database  # noqa: E402
from inkpost.sample_pdf import make_pdf  # noqa: E402
from inkpost.server import start_up_heap_frozen  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import FileBlobStore  # noqa: E402
from storage.db import make_engine, make_session_factory  # noqa: E402
from storage.models import Document, GroupMember, Notification, Recipient  # noqa: E402
from tests.fakes.telegram_api import (  # noqa: E402
    DEFAULT_TOKEN,
    JSON,
    FakeTelegramApi,
    FloodLimits,
)
from workflows.context import Actor, Env, Limits  # noqa: E402
from workflows.documents import filing  # noqa: E402
from workflows.outbox import claims  # noqa: E402
from workflows.people import groups, organizations  # noqa: E402
from workflows.sharing import sharing  # noqa: E402

BENCH = Actor.system("bench")
FIRST_CHAT = 7_000_000_000
TELEGRAM_LIMIT = 30.0  # messages per second, overall
READY_TIMEOUT = 60.0  # seconds for a serving process to answer /healthz
STOP_TIMEOUT = 20.0  # seconds a serving process gets to stop after SIGTERM
POLL = 0.05


@dataclass(frozen=True)
class Population:
    org_id: int
    group_id: int
    document_id: int
    chats: list[int]


@dataclass(frozen=True)
class Figures:
    n: int
    dialect: str
    enqueue_seconds: float
    first_send: float
    last_send: float
    delivered: int
    throttled: int
    lost: int
    duplicated: int
    statuses: dict[str, int]
    killed: int
    resumed_after: float | None
    fake_errors: int
    gaps: list[float]
    """Seconds between consecutive notices at the fake, sorted."""
    processes: int = 1
    load: tuple[str, str] = ("", "")
    """The load average as the delivery started and as it ended."""

    @property
    def duration(self) -> float:
        return self.last_send - self.first_send

    @property
    def rate(self) -> float:
        return self.delivered / self.duration if self.duration > 0 else 0.0


# -- the store ----------------------------------------------------------------------------


async def populate(env: Env, n: int) -> Population:
    """One organisation, ``n`` recipients linked to chats, a group of all, one PDF."""
    org = await organizations.create_organization(env, slug="bench", name="Bench Law", actor=BENCH)
    assert org.id is not None
    client = await organizations.add_client(env, org_id=org.id, actor=BENCH, name="Bench Client")
    assert client.id is not None
    now = env.clock.now()
    chats = [FIRST_CHAT + i for i in range(n)]
    async with env.sessions() as session, session.begin():
        people = [
            Recipient(
                org_id=org.id,
                client_id=client.id,
                name=f"Recipient {i:05d}",
                telegram_chat_id=chat,
                telegram_user_id=chat,
                telegram_active=True,
                status="active",
                created_at=now,
            )
            for i, chat in enumerate(chats)
        ]
        session.add_all(people)
        await session.flush()
        ids = [person.id for person in people]
    group = await groups.create_group(env, org_id=org.id, actor=BENCH, name="Everyone")
    assert group.id is not None
    async with env.sessions() as session, session.begin():
        session.add_all(
            GroupMember(group_id=group.id, recipient_id=rid, org_id=org.id)
            for rid in ids
            if rid is not None
        )
    document = await filing.upload_document(
        env,
        org_id=org.id,
        actor=BENCH,
        meta=filing.NewDocument(
            title="Annual statement 2027",
            category="statement",
            client_id=client.id,
            filename="statement.pdf",
        ),
        content=_once(make_pdf("Annual statement 2027", pages=2)),
    )
    assert document.id is not None
    return Population(org.id, group.id, document.id, chats)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def outbox_statuses(env: Env) -> dict[str, int]:
    async with env.sessions() as session:
        rows = (
            await session.exec(
                select(Notification.status, func.count(col(Notification.id))).group_by(
                    col(Notification.status)
                )
            )
        ).all()
    return {status: count for status, count in rows}


class ObservedFake(FakeTelegramApi):
    """The fake Bot API, calling ``on_notice`` as it accepts each notice, before it answers."""

    on_notice: Callable[[int], None] | None = None

    def record(self, method: str, message: JSON, **extra: Any) -> JSON:
        recorded = super().record(method, message, **extra)
        if method == "sendMessage" and self.on_notice is not None:
            self.on_notice(len(self.sent))
        return recorded


# -- the serving process ------------------------------------------------------------------


class ServeProcess:
    """``python -m inkpost serve`` on 127.0.0.1, its output kept in a log file."""

    def __init__(self, *, env: dict[str, str], log: Path, cwd: Path) -> None:
        self.env = env
        self.log = log
        self.cwd = cwd
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "inkpost",
                "serve",
                env=self.env,
                cwd=self.cwd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        url = f"http://127.0.0.1:{self.env['INKPOST_PORT']}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise RuntimeError(f"inkpost serve exited early; see {self.log}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise RuntimeError(f"inkpost serve did not answer {url} in {READY_TIMEOUT:g} s")

    def kill_now(self) -> None:
        """SIGKILL, this instant: no cleanup, no settling of claimed rows."""
        process = self.process
        if process is not None and process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """SIGKILL, and wait for the process to be gone."""
        process = self.process
        if process is not None and process.returncode is None:
            self.kill_now()
            await process.wait()

    async def stop(self) -> None:
        """SIGTERM and a bounded wait for a graceful stop; SIGKILL after that."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            print(f"inkpost serve did not stop in {STOP_TIMEOUT:g} s; killing it")
            await self.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def serve_environment(*, url: str, workdir: Path, settings: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any INKPOST_ setting, plus the bench's
    ``settings`` (names without the prefix) on a free port."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("INKPOST_")}
    port = free_port()
    env.update(
        PYTHONPATH=str(ROOT),
        INKPOST_DATA_DIR=str(workdir),
        INKPOST_DATABASE_URL=url,
        INKPOST_HOST="127.0.0.1",
        INKPOST_PORT=str(port),
        INKPOST_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    env.update({f"INKPOST_{name}": value for name, value in settings.items()})
    return env


# -- the run ------------------------------------------------------------------------------


def notices_per_chat(fake: FakeTelegramApi) -> Counter[int]:
    return Counter(s.chat_id for s in fake.sent if s.method == "sendMessage")


async def wait_until(
    predicate: Callable[[], bool], *, seconds: float, what: str, check: Callable[[], None]
) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(POLL)


async def run(url: str, workdir: Path, args: argparse.Namespace) -> Figures:
    engine: AsyncEngine = make_engine(url)
    await migrate.upgrade(engine)
    env = Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(workdir / "blobs"),
        limits=Limits(max_upload_bytes=50 * 1024 * 1024),
    )
    fake = ObservedFake(token=DEFAULT_TOKEN, flood_limits=FloodLimits())
    async with fake:
        population = await populate(env, args.n)
        for chat in population.chats:
            fake.register_chat(chat)
        fleet = [
            ServeProcess(
                env=serve_environment(
                    url=url,
                    workdir=workdir,
                    settings={"TELEGRAM_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url},
                ),
                log=workdir / serve_log(number),
                cwd=workdir,
            )
            for number in range(args.processes)
        ]
        serving = fleet[0]
        load_at_start = load_average()
        try:
            for process in fleet:
                await process.start()

            def alive() -> None:
                for number, each in enumerate(fleet):
                    process = each.process
                    if process is not None and process.returncode is not None:
                        raise RuntimeError(
                            f"inkpost serve exited ({process.returncode}); "
                            f"see {workdir / serve_log(number)}"
                        )

            enqueue_seconds, result = await timed_share(env, population, population.document_id)
            assert len(result.shares) == args.n, result.skipped[:3]

            budget = args.n / (0.5 * TELEGRAM_LIMIT) + 60
            killed = 0
            resumed_after: float | None = None
            if args.crash:
                halfway = asyncio.Event()

                def kill_halfway(notices: int) -> None:
                    if notices >= args.n // 2 and not halfway.is_set():
                        serving.kill_now()
                        halfway.set()

                fake.on_notice = kill_halfway
                await wait_until(
                    halfway.is_set, seconds=budget, what="half of the notices", check=alive
                )
                fake.on_notice = None
                await serving.kill()
                killed += 1
                before = len(fake.sent)
                print(f"killed the serving process after {before} notices; starting another")
                restarted = time.monotonic()
                await serving.start()
                await wait_until(
                    lambda: len(fake.sent) > before,
                    seconds=budget,
                    what="the new process to send",
                    check=alive,
                )
                resumed_after = time.monotonic() - restarted
                budget += claims.LEASE.total_seconds()
            await wait_until(
                lambda: len(notices_per_chat(fake)) >= args.n,
                seconds=budget,
                what="a notice in every chat",
                check=alive,
            )
            statuses = await outbox_statuses(env)
            settle_deadline = time.monotonic() + budget
            while statuses.get("sent", 0) < args.n and time.monotonic() < settle_deadline:
                await asyncio.sleep(0.5)
                statuses = await outbox_statuses(env)
        finally:
            await asyncio.gather(*(process.stop() for process in fleet))
            await engine.dispose()
        per_chat = notices_per_chat(fake)
        notices = [s for s in fake.sent if s.method == "sendMessage"]
        return Figures(
            n=args.n,
            dialect=engine.dialect.name,
            enqueue_seconds=enqueue_seconds,
            first_send=min(s.at for s in notices),
            last_send=max(s.at for s in notices),
            delivered=len(per_chat),
            throttled=sum(1 for r in fake.requests if r.status == 429),
            lost=sum(1 for chat in population.chats if per_chat[chat] == 0),
            duplicated=sum(1 for count in per_chat.values() if count > 1),
            statuses=statuses,
            killed=killed,
            resumed_after=resumed_after,
            fake_errors=len(fake.internal_errors),
            gaps=sorted(b.at - a.at for a, b in itertools.pairwise(notices)),
            processes=args.processes,
            load=(load_at_start, load_average()),
        )


def serve_log(number: int) -> str:
    """The log file of the ``number``-th serving process (from 0)."""
    return "serve.log" if number == 0 else f"serve-{number + 1}.log"


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def timed_share(
    env: Env, population: Population, document_id: int
) -> tuple[float, sharing.GroupShareResult]:
    """Share ``document_id`` with the group; the seconds it took, and the result."""
    # Staff share from a serving process, which keeps its start-up heap out of the
    # collector's sight (inkpost.server); this process does the same.
    with start_up_heap_frozen():
        started = time.perf_counter()
        result = await sharing.share_with_group(
            env,
            org_id=population.org_id,
            actor=BENCH,
            document_id=document_id,
            group_id=population.group_id,
        )
        return time.perf_counter() - started, result


async def enqueue_only(url: str, workdir: Path, args: argparse.Namespace) -> None:
    """Share ``--repeat`` documents with the group in turn; print each enqueue beside the
    time the database alone takes to store the same rows."""
    engine: AsyncEngine = make_engine(url)
    try:
        await migrate.upgrade(engine)
        env = Env(
            sessions=make_session_factory(engine),
            blobs=FileBlobStore(workdir / "blobs"),
            limits=Limits(max_upload_bytes=50 * 1024 * 1024),
        )
        population = await populate(env, args.n)
        documents_ids = [population.document_id]
        for number in range(1, args.repeat):
            documents_ids.append(await another_document(env, population, number))
        shares, alone = [], []
        for document_id in documents_ids:
            seconds, result = await timed_share(env, population, document_id)
            shares.append(seconds)
            assert len(result.shares) == args.n, result.skipped[:3]
            alone.append(await store_alone(engine, population.org_id, document_id))
        pending = (await outbox_statuses(env)).get("pending", 0)
    finally:
        await engine.dispose()
    share, floor = statistics.median(shares), statistics.median(alone)
    per_10k = share * 10_000 / args.n
    print(
        f"\nenqueue of one document to {args.n:,} linked recipients, {engine.dialect.name}, "
        f"{os.cpu_count()} CPUs, {args.repeat} runs"
    )
    print(f"share_with_group: {', '.join(f'{t * 1000:.0f}' for t in shares)} ms")
    print(
        "the database alone storing the same rows: "
        f"{', '.join(f'{t * 1000:.0f}' for t in alone)} ms"
    )
    ratio = share / floor
    print(
        f"median {share * 1000:.0f} ms = {per_10k:.2f} s per 10,000 (goal < 1 s) "
        f"{verdict(per_10k < 1)}; {ratio:.2f}x the database alone ({floor * 1000:.0f} ms; "
        f"goal at most 2x) {verdict(ratio <= 2)}"
    )
    expected = args.n * args.repeat
    print(f"outbox: {pending:,} pending of {expected:,} {verdict(pending == expected)}")


async def another_document(env: Env, population: Population, number: int) -> int:
    async with env.sessions() as session:
        first = await session.get(Document, population.document_id)
        assert first is not None
    title = f"Annual statement 2027, part {number + 1}"
    document = await filing.upload_document(
        env,
        org_id=population.org_id,
        actor=BENCH,
        meta=filing.NewDocument(
            title=title, category="statement", client_id=first.client_id, filename="part.pdf"
        ),
        content=_once(make_pdf(title, pages=2)),
    )
    assert document.id is not None
    return document.id


STORE_ALONE = (
    # (table, columns copied as they are, columns given another value)
    (
        "share",
        "org_id, document_id, kind, recipient_id, group_id, message, created_by_staff_id, "
        "created_at, expires_at, max_downloads, download_count, open_count, "
        "notify_unused_expiry",
        {"token_hash": "'~' || substr(token_hash, 2)"},
        "document_id = :document",
    ),
    (
        "auditevent",
        "org_id, at, actor_type, actor_id, actor_label, action, document_id, share_id, "
        "details, ip, user_agent, prev_hash, hash",
        {"seq": "seq + :shift"},
        "org_id = :org AND document_id = :document AND action = 'document.shared'",
    ),
    (
        "notification",
        "org_id, channel, target, kind, payload, status, attempts, next_attempt_at, created_at",
        {"dedupe_key": "'~' || dedupe_key"},
        "kind = 'document.shared' AND payload_document = :document",
    ),
)


async def store_alone(engine: AsyncEngine, org_id: int, document_id: int) -> float:
    """Seconds the database takes to store again, by itself, the rows one group share
    wrote: copied inside it and committed. The copies are removed afterwards."""
    json_field = (
        "CAST(payload ->> 'document_id' AS INTEGER)"
        if engine.dialect.name == "postgresql"
        else "json_extract(payload, '$.document_id')"
    )
    async with engine.connect() as conn:
        shift = (
            await conn.execute(
                text("SELECT max(seq) FROM auditevent WHERE org_id = :org"), {"org": org_id}
            )
        ).scalar_one()
    params = {"org": org_id, "document": document_id, "shift": shift}
    started = time.perf_counter()
    async with engine.begin() as conn:
        for table, same, changed, condition in STORE_ALONE:
            columns = f"{same}, {', '.join(changed)}"
            values = f"{same}, {', '.join(changed.values())}"
            where = condition.replace("payload_document", json_field)
            await conn.execute(
                text(f"INSERT INTO {table} ({columns}) SELECT {values} FROM {table} WHERE {where}"),
                params,
            )
    seconds = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM notification WHERE dedupe_key LIKE '~%'"))
        await conn.execute(
            text("DELETE FROM auditevent WHERE org_id = :org AND seq > :shift"), params
        )
        await conn.execute(text("DELETE FROM share WHERE token_hash LIKE '~%'"))
    return seconds


def verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW GOAL"


def report(figures: Figures) -> None:
    f = figures
    per_10k = f.enqueue_seconds * 10_000 / f.n
    fraction = f.rate / TELEGRAM_LIMIT
    allowed_duplicates = f.killed
    serving = f"{f.processes} serving processes, " if f.processes > 1 else ""
    print(
        f"\nfan-out of one document to {f.n:,} linked recipients, {f.dialect}, "
        f"{serving}{os.cpu_count()} CPUs{', one SIGKILL' if f.killed else ''}"
    )
    print(f"load average at start: {f.load[0]}")
    print(
        f"enqueue (share_with_group): {f.enqueue_seconds:.2f} s = {per_10k:.2f} s per 10,000 "
        f"(goal < 1 s) {verdict(per_10k < 1)}"
    )
    goal = (
        "(with the restart and the lease wait; no goal)"
        if f.killed
        else f"(goal >= 0.93) {verdict(fraction >= 0.93)}"
    )
    print(
        f"delivery: {f.delivered:,} chats in {f.duration:.1f} s from first to last notice, "
        f"{f.rate:.2f}/s = {fraction:.3f} of 30/s {goal}"
    )
    if f.gaps:
        p50, p99 = (f.gaps[int(q * (len(f.gaps) - 1))] * 1000 for q in (0.5, 0.99))
        print(
            f"gaps between notices: median {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"longest {f.gaps[-1] * 1000:.0f} ms"
        )
    if f.resumed_after is not None:
        print(f"restart: the new process sent its first notice {f.resumed_after:.1f} s after start")
    print(f"429s: {f.throttled} (goal 0) {verdict(f.throttled == 0)}")
    print(f"lost: {f.lost} (goal 0) {verdict(f.lost == 0)}")
    print(
        f"duplicated: {f.duplicated} (goal <= {allowed_duplicates}) "
        f"{verdict(f.duplicated <= allowed_duplicates)}"
    )
    statuses = ", ".join(f"{status} {count}" for status, count in sorted(f.statuses.items()))
    print(f"outbox: {statuses} {verdict(f.statuses.get('sent', 0) == f.n)}")
    if f.fake_errors:
        print(f"the fake Bot API failed {f.fake_errors} times")
    print(f"load average at end: {f.load[1]}")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="inkpost-fanout-") as tmp:
        workdir = Path(tmp)
        try:
            async with database(workdir, args.postgres) as url:
                if args.enqueue_only:
                    print_load("start")
                    await enqueue_only(url, workdir, args)
                    print_load("end")
                    return
                figures = await run(url, workdir, args)
        except BaseException:
            for number in range(args.processes):
                log = workdir / serve_log(number)
                if log.exists():
                    print(f"--- last lines of {log.name} ---")
                    print("\n".join(log.read_text(errors="replace").splitlines()[-40:]))
            raise
    report(figures)


def at_least_one(text: str) -> int:
    """A count given on the command line: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too few: give 1 or more")
    return value


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a run that could not happen is refused here, with one line."""
    parser = argparse.ArgumentParser(prog="fanout.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=at_least_one, default=2000, help="recipients in the group")
    parser.add_argument(
        "--crash",
        action="store_true",
        help="SIGKILL the serving process halfway and start another",
    )
    parser.add_argument(
        "--processes",
        type=at_least_one,
        default=1,
        help="serving processes delivering side by side (their combined rate is measured)",
    )
    parser.add_argument(
        "--enqueue-only",
        action="store_true",
        help="time only the enqueue, beside the database alone storing the same rows",
    )
    parser.add_argument(
        "--repeat", type=at_least_one, default=3, help="enqueues timed with --enqueue-only"
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL (postgresql+asyncpg://user@host:port/db) on which to "
        "create and drop a temporary database, instead of SQLite",
    )
    arguments = parser.parse_args(argv)
    if arguments.crash and arguments.processes > 1:
        parser.error("--crash kills the one serving process: give it without --processes")
    if arguments.enqueue_only and arguments.processes > 1:
        parser.error("--enqueue-only starts no serving process: give it without --processes")
    return arguments


if __name__ == "__main__":
    asyncio.run(main(parse()))
