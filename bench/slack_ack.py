"""How fast staff get an answer from Slack: concurrent `/inkpost find` on a large store.

    python bench/slack_ack.py [--documents 100000] [--concurrent 50] [--rounds 3]
                              [--postgres URL]

Sets up a temporary SQLite store (or, with ``--postgres``, a temporary database on that
PostgreSQL server, dropped afterwards) with one organisation connected to a Slack
workspace, ``--concurrent`` staff members and ``--documents`` documents with titles and
text drawn from a vocabulary, then ``ANALYZE``d (a database in use keeps its statistics;
without them PostgreSQL's planner guesses). The app runs as it does in production,
``python -m inkpost serve`` in a process of its own, pointed at the fake Slack Web API in
this process through ``INKPOST_SLACK_API_URL``; the fake receives the answers at their
response URLs.

Each round sends ``--concurrent`` signed `/inkpost help` commands at once, one per staff
member, then as many `/inkpost find WORDS`, and times for each:

- the acknowledgement: until Slack's HTTP request is answered (goal: find's p99 within
  1.5x help's p99 in the same run: help does the least any command does before its ack,
  so the ratio measures Inkpost, where an absolute figure measured the machine),
- the answer: until the search results reach the response URL (goal: p99 < 1 s).

The report gives find's p99s as ratios of help's, and the load average at the start and
the end (the cores may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy import text, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bench._load import print_load  # noqa: E402
from bench.fanout import ServeProcess, serve_environment  # noqa: E402
from bench.links import BENCH, database  # noqa: E402
from storage import migrate  # noqa: E402
from storage.blobs import FileBlobStore  # noqa: E402
from storage.db import make_engine, make_session_factory  # noqa: E402
from storage.models import Document, Organization  # noqa: E402
from tests.fakes.slack_api import DEFAULT_TEAM_ID, FakeSlackApi  # noqa: E402
from tests.fakes.slack_client import DEFAULT_SIGNING_SECRET, SlackSender  # noqa: E402
from workflows.context import Env, Limits  # noqa: E402
from workflows.people import organizations  # noqa: E402

ACK_RATIO_GOAL = 1.5  # find's ack p99 / help's ack p99
ANSWER_GOAL = 1.0  # seconds, p99
INSERT_CHUNK = 5000
ANSWER_TIMEOUT = 60.0
VOCABULARY = (
    "fee",
    "table",
    "annual",
    "statement",
    "contract",
    "annex",
    "invoice",
    "report",
    "quarterly",
    "balance",
    "lease",
    "agreement",
    "power",
    "attorney",
    "tax",
    "return",
    "audit",
    "payroll",
    "dividend",
    "merger",
    "licence",
    "claim",
    "settlement",
    "notice",
    "amendment",
    "schedule",
    "budget",
    "forecast",
    "pension",
    "policy",
    "mortgage",
    "deed",
    "transfer",
    "custody",
    "compliance",
    "minutes",
    "board",
    "resolution",
    "memorandum",
)


TEXT_WORDS = 200
LEXICON = 5000


def text_lexicon(seed: int) -> list[str]:
    """Made-up words for the documents' text, most frequent first."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = {"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(LEXICON * 2)}
    return sorted(words)[:LEXICON]


@dataclass(frozen=True)
class Timing:
    ack: float
    answer: float


async def populate(env: Env, *, documents: int, staff: int, seed: int) -> list[str]:
    """One organisation on the fake's workspace, ``staff`` Slack users, ``documents``
    documents sharing one blob; returns the staff's Slack user ids."""
    org = await organizations.create_organization(
        env, slug="bench", name="Bench Law", actor=BENCH, slack_team_id=DEFAULT_TEAM_ID
    )
    assert org.id is not None
    client = await organizations.add_client(env, org_id=org.id, actor=BENCH, name="Bench Client")
    assert client.id is not None
    users = [f"U0BENCH{i:04d}" for i in range(staff)]
    for i, user in enumerate(users):
        await organizations.add_staff(
            env, org_id=org.id, actor=BENCH, name=f"Staff {i:04d}", slack_user_id=user
        )
    rng = random.Random(seed)
    lexicon = text_lexicon(seed)
    # Zipf-distributed, as words are in prose.
    cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(lexicon) + 1)))
    now = env.clock.now()
    table = Document.__table__  # type: ignore[attr-defined]
    async with env.sessions() as session, session.begin():
        connection = await session.connection()
        for start in range(0, documents, INSERT_CHUNK):
            rows: list[dict[str, Any]] = []
            for number in range(start + 1, min(start + INSERT_CHUNK, documents) + 1):
                title = " ".join(rng.sample(VOCABULARY, 3)).capitalize() + f" {number}"
                body = " ".join(rng.choices(lexicon, cum_weights=cumulative, k=TEXT_WORDS))
                rows.append(
                    {
                        "org_id": org.id,
                        "number": number,
                        "client_id": client.id,
                        "title": title,
                        "category": rng.choice(("contract", "statement", "report", "other")),
                        "filename": f"document-{number}.pdf",
                        "media_type": "application/pdf",
                        "size": 1024,
                        "sha256": "0" * 64,
                        "blob_key": "0" * 64,
                        "page_count": 1,
                        "text_content": body,
                        "version_no": 1,
                        "direction": "outbound",
                        "created_at": now,
                    }
                )
            await connection.execute(table.insert(), rows)
        await session.exec(
            update(Organization)
            .where(Organization.id == org.id)  # type: ignore[arg-type]
            .values(next_document_number=documents + 1)
        )
    return users


async def analyze(engine: AsyncEngine) -> None:
    """Gather the planner's statistics, which a database in use has (autovacuum gathers
    them on PostgreSQL)."""
    async with engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


def query(rng: random.Random, lexicon: list[str]) -> str:
    """What staff type: one or two words of titles, or a fairly common word of the text."""
    if rng.random() < 0.2:
        return "find " + rng.choice(lexicon[:500])
    return "find " + " ".join(rng.sample(VOCABULARY, rng.choice((1, 2))))


async def timed_command(sender: SlackSender, fake: FakeSlackApi, user: str, text: str) -> Timing:
    """Send one signed command; time its acknowledgement and its answer."""
    started = time.perf_counter()
    response = await sender.command(user, text)
    acked = time.perf_counter()
    if response.status != 200:
        raise RuntimeError(f"{text!r} from {user} answered {response.status}")
    await fake.wait_for(
        lambda: any(r.user_id == user for r in fake.responses),
        timeout=ANSWER_TIMEOUT,
        what=f"the answer to {user}",
    )
    answered = time.perf_counter()
    return Timing(ack=acked - started, answer=answered - started)


async def burst(
    sender: SlackSender, fake: FakeSlackApi, users: Sequence[str], texts: Sequence[str]
) -> list[Timing]:
    """Every user sends their command at the same moment."""
    fake.responses.clear()
    return list(
        await asyncio.gather(
            *(
                timed_command(sender, fake, user, text)
                for user, text in zip(users, texts, strict=True)
            )
        )
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def line(label: str, values: Sequence[float], goal: float | None = None) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    verdict = ""
    if goal is not None:
        verdict = f"  goal p99 < {goal * 1000:.0f} ms: {'met' if p99 < goal else 'MISSED'}"
    return f"  {label:<22} p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms{verdict}"


async def run(url: str, workdir: Path, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    env = Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(workdir / "blobs"),
        limits=Limits(max_upload_bytes=50 * 1024 * 1024),
    )
    began = time.perf_counter()
    users = await populate(env, documents=args.documents, staff=args.concurrent, seed=args.seed)
    await analyze(engine)
    await engine.dispose()
    print(
        f"store: {args.documents:,} documents on {engine.dialect.name}, "
        f"filled and analysed in {time.perf_counter() - began:.1f} s"
    )
    rng = random.Random(args.seed + 1)
    lexicon = text_lexicon(args.seed)
    fake = FakeSlackApi()
    async with fake:
        for user in users:
            fake.add_user(user, user.lower())
        settings = {
            "SLACK_BOT_TOKEN": fake.token,
            "SLACK_SIGNING_SECRET": DEFAULT_SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
        }
        serving = ServeProcess(
            env=serve_environment(url=url, workdir=workdir, settings=settings),
            log=workdir / "serve.log",
            cwd=workdir,
        )
        await serving.start()
        base = f"http://127.0.0.1:{serving.env['INKPOST_PORT']}"
        try:
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session,
                SlackSender(base, fake=fake, session=session) as sender,
            ):
                await burst(sender, fake, users[:1], ["find warm up"])
                helps: list[Timing] = []
                finds: list[Timing] = []
                for _ in range(args.rounds):
                    helps += await burst(sender, fake, users, ["help"] * len(users))
                    words = [query(rng, lexicon) for _ in users]
                    finds += await burst(sender, fake, users, words)
        finally:
            await serving.stop()
    report(args, helps, finds)


def report(args: argparse.Namespace, helps: list[Timing], finds: list[Timing]) -> None:
    count = args.rounds * args.concurrent
    print(f"{args.rounds} rounds of {args.concurrent} concurrent commands ({count} each):")
    print(line("/inkpost help  ack", [t.ack for t in helps]))
    print(line("/inkpost help  answer", [t.answer for t in helps]))
    print(line("/inkpost find  ack", [t.ack for t in finds]))
    print(line("/inkpost find  answer", [t.answer for t in finds], ANSWER_GOAL))
    acks = ratio([t.ack for t in finds], [t.ack for t in helps])
    print(
        f"  find ack p99 / help ack p99: {acks:.2f}x  goal <= {ACK_RATIO_GOAL}x: "
        f"{'met' if acks <= ACK_RATIO_GOAL else 'MISSED'}"
    )
    answers = ratio([t.answer for t in finds], [t.answer for t in helps])
    print(f"  find answer p99 / help answer p99: {answers:.1f}x")
    print(f"  mean find answer: {statistics.fmean(t.answer for t in finds) * 1000:.1f} ms")


def ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """p99 of ``values`` over p99 of ``baseline``."""
    base = percentile(baseline, 0.99)
    return percentile(values, 0.99) / base if base else float("nan")


async def main(args: argparse.Namespace) -> None:
    print_load("start")
    with tempfile.TemporaryDirectory(prefix="inkpost-slack-bench-") as tmp:
        workdir = Path(tmp)
        async with database(workdir, args.postgres) as url:
            await run(url, workdir, args)
    print_load("end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use instead")
    asyncio.run(main(parser.parse_args()))
