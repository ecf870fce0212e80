"""How fast link pages and downloads are served, next to a bare ``web.FileResponse``.

    python bench/links.py [--seconds 5] [--concurrency 16] [--postgres URL] [--profile]

Sets up a temporary SQLite store (or, with ``--postgres``, a temporary database on that
PostgreSQL server, dropped afterwards) with file blobs, uploads a ~5 MB PDF, creates a link
(without a download limit) and serves the Inkpost app and a bare aiohttp app, whose one
handler returns ``web.FileResponse`` of the same blob file, on 127.0.0.1. A separate
process (so the client does not share the server's core) drives each with the same
number of concurrent aiohttp clients for a fixed time and reports requests per second:

- ``/d/{token}/file`` against the bare app (goal: ratio >= 0.7),
- ``/d/{token}`` HTML pages (goal: >= 1,000/s).

The app is built by ``create_app`` and started by its runner as in production, so every
open and download goes through its ``AccessRecorder`` (group commit). At the end the audit
trail is checked: one durable event per page or file served, and an unbroken chain.

``--profile`` runs the server under cProfile during the HTML phase and prints where the
time went.
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
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from multiprocessing.pool import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import pypdfium2 as pdfium  # noqa: E402
import pypdfium2.raw as pdfium_raw  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import func, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from inkpost.sample_pdf import make_pdf  # noqa: E402
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

BENCH = Actor.system("bench")
NOISE_SIDE = 1300  # 1300 x 1300 RGB of noise: ~5 MB that does not compress


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    bytes: int
    errors: int
    served: int
    """Successful responses including the warm-up: the visits the app had to record."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


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


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start : start + 256 * 1024]


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


async def prepare(url: str, workdir: Path) -> tuple[Env, AsyncEngine, str, Path]:
    engine = make_engine(url)
    await migrate.upgrade(engine)
    env = Env(
        sessions=make_session_factory(engine),
        blobs=FileBlobStore(workdir / "blobs"),
        limits=Limits(max_upload_bytes=50 * 1024 * 1024),
    )
    org = await organizations.create_organization(env, slug="bench", name="Bench Law", actor=BENCH)
    assert org.id is not None
    client = await organizations.add_client(env, org_id=org.id, actor=BENCH, name="Bench Client")
    assert client.id is not None
    document = await filing.upload_document(
        env,
        org_id=org.id,
        actor=BENCH,
        meta=filing.NewDocument(
            title="Benchmark document",
            category="contract",
            client_id=client.id,
            filename="benchmark.pdf",
        ),
        content=_chunks(five_megabyte_pdf()),
    )
    assert document.id is not None
    link = await links.create_link(env, org_id=org.id, actor=BENCH, document_id=document.id)
    assert link.token is not None
    path = env.blobs.local_path(document.blob_key)
    assert path is not None
    return env, engine, link.token, path


def bare_app(path: Path) -> web.Application:
    async def send(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/file", send)
    return app


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


# -- the load generator, in its own process ----------------------------------------------


def drive(url: str, concurrency: int, seconds: float) -> tuple[int, float, int, int]:
    return asyncio.run(_drive(url, concurrency, seconds))


async def _drive(url: str, concurrency: int, seconds: float) -> tuple[int, float, int, int]:
    done = errors = received = 0
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, errors, received
            while time.perf_counter() < deadline:
                try:
                    async with session.get(url) as response:
                        async for chunk in response.content.iter_chunked(1 << 20):
                            received += len(chunk)
                        if response.status == 200:
                            done += 1
                        else:
                            errors += 1
                except aiohttp.ClientError:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return done, elapsed, received, errors


async def measure(pool: Pool, name: str, url: str, *, concurrency: int, seconds: float) -> Result:
    """A short warm-up, then one timed run in the load process."""
    loop = asyncio.get_running_loop()
    warm, *_ = await loop.run_in_executor(None, pool.apply, drive, (url, concurrency, 0.5))
    done, elapsed, received, errors = await loop.run_in_executor(
        None, pool.apply, drive, (url, concurrency, seconds)
    )
    return Result(name, done, elapsed, received, errors, served=warm + done)


async def check_audit_trail(env: Env, results: list[Result]) -> None:
    """Every page and file served must have its event in the chain, and the chain verify."""
    _, file, page = results
    async with env.sessions() as session:
        counted = await session.exec(
            select(AuditEvent.action, func.count()).group_by(col(AuditEvent.action))
        )
        events = dict(counted.all())
    org_id = (await organizations.get_organization(env, slug="bench")).id
    assert org_id is not None
    chain = await audit.verify_chain(env, org_id=org_id)
    opened, downloaded = events.get("document.opened", 0), events.get("document.downloaded", 0)
    ok = opened == page.served and downloaded == file.served and chain.ok
    print(
        f"audit trail: {opened} opens for {page.served} pages served, {downloaded} downloads "
        f"for {file.served} files served, chain of {chain.events} events "
        f"{'verifies' if chain.ok else 'BROKEN'} {'ok' if ok else 'MISMATCH'}"
    )


async def run(url: str, workdir: Path, pool: Pool, args: argparse.Namespace) -> list[Result]:
    env, engine, token, blob = await prepare(url, workdir)
    app = create_app(env=env, cache_dir=workdir / "cache", public_url="http://127.0.0.1")
    inkpost, inkpost_url = await serve(app)
    bare, bare_url = await serve(bare_app(blob))
    try:
        print(
            f"document {blob.stat().st_size / 1e6:.2f} MB, {engine.dialect.name}, "
            f"{args.concurrency} concurrent clients, {args.seconds:g} s per run, "
            f"{os.cpu_count()} CPUs"
        )
        common = {"concurrency": args.concurrency, "seconds": args.seconds}
        results = [
            await measure(pool, "bare FileResponse", f"{bare_url}/file", **common),
            await measure(pool, "/d/{token}/file", f"{inkpost_url}/d/{token}/file", **common),
        ]
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        results.append(
            await measure(pool, "/d/{token} (HTML)", f"{inkpost_url}/d/{token}", **common)
        )
        if profiler is not None:
            profiler.disable()
            print("\nserver profile during the HTML run (top 25 by internal time):")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        await check_audit_trail(env, results)
    finally:
        await inkpost.cleanup()
        await bare.cleanup()
        await engine.dispose()
    return results


def report(results: list[Result]) -> None:
    bare_file, our_file, page = results
    print(f"\n{'endpoint':<22}{'requests':>10}{'req/s':>10}{'MB/s':>10}{'errors':>8}")
    for result in results:
        mb = result.bytes / result.seconds / 1e6 if result.seconds else 0.0
        print(
            f"{result.name:<22}{result.requests:>10}{result.rate:>10.1f}{mb:>10.1f}"
            f"{result.errors:>8}"
        )
    ratio = our_file.rate / bare_file.rate if bare_file.rate else 0.0
    print(f"\nfile / bare: {ratio:.2f} (goal >= 0.70) {'ok' if ratio >= 0.7 else 'BELOW GOAL'}")
    verdict = "ok" if page.rate >= 1000 else "BELOW GOAL"
    print(f"HTML pages: {page.rate:.0f}/s (goal >= 1000/s) {verdict}")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="inkpost-bench-") as tmp, context.Pool(1) as pool:
        workdir = Path(tmp)
        async with database(workdir, args.postgres) as url:
            results = await run(url, workdir, pool, args)
    report(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL (postgresql+asyncpg://user@host:port/db) on which to "
        "create and drop a temporary database, instead of SQLite",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the HTML run")
    asyncio.run(main(parser.parse_args()))
