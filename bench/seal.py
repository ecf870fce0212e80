"""How fast a completed request's PDF is sealed, next to bare pyHanko doing the same work.

    python bench/seal.py [--rounds 40] [--pages 20]
    python bench/seal.py --tsa [plain|pki] [--tsa-rounds 10] [--pages 20]

A 20-page PDF (``inkpost.sample_pdf.make_pdf``) and a fresh self-signed ECDSA P-256 seal;
three parties (two signers with drawn signatures, one approver), no TSA. Reported:

- seals/s of Inkpost's whole sealing step, ``workflows.signing.seal.seal_pdf``: checks the
  inputs, appends the completion certificate page, adds three incremental PAdES
  signatures (two with visible stamps). Each seal is of another request, with other
  people, times and history (``certificate_for``), as real seals are: what Inkpost keeps
  from one seal to the next helps only where real seals repeat themselves;
- seals/s of the baseline, in the same run with the same key: the least work that gives
  the same output. Everything that is the same in every seal is done once, before the
  clock starts: the certificate page appended and the signature fields placed, the two
  stamps already drawn in them (the same ``TextStampStyle``, font and drawing as
  Inkpost's). Timed is what no seal can skip: three incremental ``PdfSigner.sign_pdf``
  signatures into those fields (``NoOpStampStyle`` keeps their appearance), with the same
  metadata, key usage and reserved room, so pyHanko makes no trial signature;
- their ratio (goal >= 0.8): what Inkpost's own work (checking the inputs, laying out
  the certificate page and the stamps anew for every seal) costs on top of signing;
- p95 of the time from "seal this" to the sealed PDF being stored: ``seal_pdf`` in a
  worker thread, as the async sealing worker runs it, then written to a file blob store
  (fsync'd) (goal <= 300 ms without a TSA).

Every tenth sealed PDF is verified with ``verify_pdf``, and one of the baseline's; a
failure is printed, never asserted.

With ``--tsa``, the bench starts a local timestamp authority in a process of its own
(``tests/fakes/tsa.py``: a self-signed TSA without revocation data; or, with ``--tsa pki``,
``tests/fakes/pki.py``: certomancer's test PKI, whose TSA, CA-issued seal and their CRL and
OCSP services make every seal fetch and embed revocation data, needing the test extras),
stops it by its pid when done, and prints, from the same run and taking turns, the time
of ``seal_pdf`` without a TSA, with the sealing worker's clients (PAdES B-LTA: a timestamp
per party, the validation data, a closing document timestamp), and with pyHanko's stock
``HTTPTimeStamper`` instead, with the machine's load average before and after.

Both modes take turns between what they compare, so that a busy spell hits all, and print
the load average at the start and at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime as dt
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from asn1crypto import pem  # noqa: E402
from asn1crypto import x509 as asn1_x509  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.sign import fields, signers  # noqa: E402
from pyhanko.sign.signers.cms_embedder import SigAppearanceSetup  # noqa: E402
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper  # noqa: E402
from pyhanko.sign.timestamps.api import TimeStamper  # noqa: E402
from pyhanko.stamp import NoOpStampStyle  # noqa: E402

from bench._load import load_average, print_load  # noqa: E402
from inkpost import sealer  # noqa: E402
from inkpost.sample_pdf import make_pdf  # noqa: E402
from inkpost.settings import Settings  # noqa: E402
from storage.blobs import FileBlobStore, stage  # noqa: E402
from workflows.signing import certificate as certificate_page  # noqa: E402
from workflows.signing import seal as sealing  # noqa: E402
from workflows.signing import typeface  # noqa: E402
from workflows.signing.certificate import utc  # noqa: E402
from workflows.signing.seal import (  # noqa: E402
    AuditHead,
    CertificateInfo,
    DocumentEntry,
    PartyDecision,
    PartyEvent,
    PartyRecord,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    seal_pdf,
    signature_reason,
    verify_pdf,
)

DECIDED = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def drawn_signature() -> bytes:
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(10, 120), (120, 30), (240, 140), (470, 40)], fill="navy", width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


FIRST_NAMES = ("Alice", "Bruno", "Chloé", "Dariusz", "Eva", "Fatima", "Gösta", "Hanna")
LAST_NAMES = ("Anders", "Becker", "Carré", "Dąbrowski", "Eriksson", "Fontaine", "Novák")


def certificate_for(pdf: bytes, number: int = 0) -> CertificateInfo:
    """The certificate of request ``number``: its people, times and history differ from
    one number to the next, as two requests' do; headings and explanations do not."""
    png = drawn_signature()
    names = [
        f"{FIRST_NAMES[(number + k) % len(FIRST_NAMES)]} "
        f"{LAST_NAMES[(number * 3 + k) % len(LAST_NAMES)]} {number}"
        for k in range(3)
    ]
    people = [(names[0], "signer", png), (names[1], "approver", None), (names[2], "signer", png)]
    started = DECIDED + dt.timedelta(hours=number, seconds=number * 7)
    parties = tuple(
        PartyRecord(
            decision=PartyDecision(
                name=name,
                role=role,  # type: ignore[arg-type]
                decided_at=started + dt.timedelta(minutes=n),
                auth_level="one-time code via Telegram",
                ip=f"203.0.113.{number % 250 + 1}",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
                signature_png=drawing,
            ),
            events=tuple(
                PartyEvent(started - dt.timedelta(minutes=k), f"event {k}", f"198.51.100.{k + n}")
                for k in range(4)
            ),
        )
        for n, (name, role, drawing) in enumerate(people)
    )
    return CertificateInfo(
        request_ref=f"S-{number + 1}",
        title="Benchmark agreement",
        organisation="Bench Law",
        documents=(DocumentEntry("Benchmark", "bench.pdf", hashlib.sha256(pdf).hexdigest()),),
        parties=parties,
        audit_head=AuditHead(seq=number + 1, hash=hashlib.sha256(b"%d" % number).hexdigest()),
        completed_at=started + dt.timedelta(minutes=5),
    )


@dataclass(frozen=True)
class Prepared:
    """What every seal of one PDF has in common, made once: the PDF with the certificate
    page and the empty signature fields (stamps drawn), and how each party signs."""

    pdf: bytes
    metas: tuple[signers.PdfSignatureMetadata, ...]
    room: int


def prepare_bare(pdf: bytes, key: SealKey, info: CertificateInfo) -> Prepared:
    """The baseline's material, laid out as ``seal_pdf`` lays it out: the certificate
    page, and one signature field per party, the signers' with their stamps drawn."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stamps = sealing._stamps_on_last_page(writer)
    certificate_page.append_certificate(
        writer,
        info,
        sealed_sha256=hashlib.sha256(pdf).hexdigest(),
        seal_name=key.common_name,
        drawings_on_page=stamps.page + 1,
    )
    prefix = sealing._field_prefix(info.request_ref)
    drawings = [sealing._drawing(record.decision) for record in info.parties]
    total, placed = sum(d is not None for d in drawings), 0
    metas = []
    for number, (record, drawing) in enumerate(zip(info.parties, drawings, strict=True), 1):
        decision = record.decision
        name = f"{prefix}-{number}"
        if drawing is None:
            fields.append_signature_field(writer, fields.SigFieldSpec(sig_field_name=name))
        else:
            box = stamps.box(placed, total)
            placed += 1
            spec = fields.SigFieldSpec(sig_field_name=name, on_page=stamps.page, box=box)
            fields.append_signature_field(writer, spec)
            widget = next(
                ref.get_object()
                for found, _, ref in fields.enumerate_sig_fields(writer)
                if found == name
            )
            SigAppearanceSetup(
                style=sealing._stamp_style(drawing),
                timestamp=decision.decided_at,
                name=decision.name,
                text_params={
                    "party": typeface.printable(decision.name)[0],
                    "when": utc(decision.decided_at),
                },
            ).apply(widget, writer)
        metas.append(
            signers.PdfSignatureMetadata(
                field_name=name,
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
                reason=signature_reason(decision),
                name=decision.name,
                signer_key_usage={"digital_signature"},
            )
        )
    out = io.BytesIO()
    writer.write(out)
    room = asyncio.run(sealing._room_for_signature(key, None))
    return Prepared(pdf=out.getvalue(), metas=tuple(metas), room=room)


def bare_pyhanko(prepared: Prepared, key: SealKey) -> bytes:
    """The baseline: one incremental signature per party into the prepared fields."""
    data = prepared.pdf
    for meta in prepared.metas:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        pdf_signer = signers.PdfSigner(meta, signer=key.signer, stamp_style=NoOpStampStyle())
        data = pdf_signer.sign_pdf(writer, bytes_reserved=prepared.room).getvalue()
    return data


def taking_turns(works: list[Callable[[], object]], rounds: int) -> list[list[float]]:
    """Each of ``works`` ``rounds`` times, one after the other in turn; their times."""
    times: list[list[float]] = [[] for _ in works]
    for _ in range(rounds):
        for work, samples in zip(works, times, strict=True):
            begin = time.perf_counter()
            work()
            samples.append(time.perf_counter() - begin)
    return times


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored_latencies(
    pdf: bytes, key: SealKey, requests: Iterator[CertificateInfo], blobs: FileBlobStore, rounds: int
) -> tuple[list[float], int]:
    times, failures = [], 0
    for number in range(rounds):
        info = next(requests)
        begin = time.perf_counter()
        sealed = await asyncio.to_thread(seal_pdf, pdf, key=key, certificate=info)
        staged = await stage(_one(sealed), staging_dir=blobs.staging_dir, max_bytes=1 << 30)
        await blobs.commit(staged)
        times.append(time.perf_counter() - begin)
        if number % 10 == 0 and not (await asyncio.to_thread(verify_pdf, sealed, trusted=key)).ok:
            failures += 1
    return times, failures


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def main(args: argparse.Namespace) -> None:
    pdf = make_pdf("Benchmark agreement", pages=args.pages, lines=["Clause"] * 20)
    info = certificate_for(pdf)
    with tempfile.TemporaryDirectory(prefix="inkpost-bench-seal-") as tmp:
        key = load_seal_key(*create_self_signed_seal(Path(tmp) / "seal", common_name="Bench"))
        blobs = FileBlobStore(Path(tmp) / "blobs")
        signatures = len(info.parties)
        prepared = prepare_bare(pdf, key, info)
        # Every seal is of another request (`certificate_for`, made before the clock
        # starts): what real seals have in common may be made once, but not a whole
        # certificate sealed again and again.
        requests = iter([certificate_for(pdf, n) for n in range(1, 2 * args.rounds + 4)])
        for _ in range(3):  # warm-up: imports, caches
            seal_pdf(pdf, key=key, certificate=next(requests))
            bare_pyhanko(prepared, key)
        ours_times, bare_times = taking_turns(
            [
                lambda: seal_pdf(pdf, key=key, certificate=next(requests)),
                lambda: bare_pyhanko(prepared, key),
            ],
            args.rounds,
        )
        ours, bare = len(ours_times) / sum(ours_times), len(bare_times) / sum(bare_times)
        bare_sealed = bare_pyhanko(prepared, key)
        bare_ok = verify_pdf(bare_sealed, trusted=key).ok
        stored, failures = asyncio.run(stored_latencies(pdf, key, requests, blobs, args.rounds))
        sealed = seal_pdf(pdf, key=key, certificate=info)

    print(
        f"{args.pages}-page PDF ({len(pdf) / 1e3:.0f} kB -> sealed {len(sealed) / 1e3:.0f} kB, "
        f"by the baseline {len(bare_sealed) / 1e3:.0f} kB), "
        f"{signatures} parties, ECDSA P-256 seal, no TSA, {args.rounds} rounds, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"\n{'':<44}{'seals/s':>9}{'median ms':>11}{'p95 ms':>9}")
    rows = [
        ("seal_pdf (certificate + 3 signatures)", ours, ours_times),
        ("bare pyHanko (3 x sign_pdf, rest made once)", bare, bare_times),
        ("seal_pdf in a thread + stored (fsync)", len(stored) / sum(stored), stored),
    ]
    for name, per_second, times in rows:
        print(
            f"{name:<44}{per_second:>9.1f}{statistics.median(times) * 1e3:>11.1f}"
            f"{p95(times) * 1e3:>9.1f}"
        )
    ratio = ours / bare if bare else 0.0
    print(f"\nseal_pdf / bare: {ratio:.2f} (goal >= 0.80) {'ok' if ratio >= 0.8 else 'BELOW GOAL'}")
    worst = p95(stored) * 1e3
    verdict = "ok" if worst <= 300 else "ABOVE GOAL"
    print(f"p95 seal + store: {worst:.0f} ms (goal <= 300 ms) {verdict}")
    print(
        f"verification of sampled sealed PDFs: {'all ok' if not failures else f'{failures} FAILED'}"
    )
    print(f"verification of the baseline's output: {'ok' if bare_ok else 'FAILED'}")


# With a timestamp authority ------------------------------------------------------------

TSA_LIFETIME_SECONDS = 900
"""The local TSA stops by itself after this long, should the bench die before stopping it."""


@contextmanager
def local_tsa(kind: str, directory: Path) -> Iterator[dict[str, object]]:
    """Start ``tests/fakes/tsa.py`` (``plain``) or ``tests/fakes/pki.py`` (``pki``) in a
    process of its own on 127.0.0.1; yield what it printed; stop it by its pid."""
    module = "tests.fakes.pki" if kind == "pki" else "tests.fakes.tsa"
    command = [sys.executable, "-m", module, "--seconds", str(TSA_LIFETIME_SECONDS)]
    if kind == "pki":
        command.insert(3, str(directory))
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    atexit.register(stop)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the local TSA ({module}) did not start; exit code {process.wait()}")
        yield json.loads(line)
    finally:
        stop()
        atexit.unregister(stop)


def tsa_main(args: argparse.Namespace) -> None:
    pdf = make_pdf("Benchmark agreement", pages=args.pages, lines=["Clause"] * 20)
    info = certificate_for(pdf)
    with (
        tempfile.TemporaryDirectory(prefix="inkpost-bench-tsa-") as tmp,
        local_tsa(args.tsa, Path(tmp)) as served,
    ):
        key, url, trusted = tsa_setup(args.tsa, served, Path(tmp))
        worker = sealer.timestamper(Settings(_env_file=None, tsa_url=url))
        assert worker is not None
        stock = HTTPTimeStamper(url, timeout=sealer.TSA_TIMEOUT_SECONDS)
        ways: dict[str, Callable[[], bytes]] = {
            "no TSA (PAdES B-B)": lambda: seal_pdf(pdf, key=key, certificate=info),
            "TSA, the worker's clients (B-LTA)": lambda: timestamped(pdf, key, info, worker),
            "TSA, pyHanko's HTTPTimeStamper (B-LTA)": lambda: timestamped(pdf, key, info, stock),
        }
        for way in ways.values():  # warm-up: imports, caches, the TSA's first token
            sealed = way()
        load_before = load_average()
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.tsa_rounds):  # taking turns, so that a busy spell hits all
            for name, way in ways.items():
                begin = time.perf_counter()
                sealed = way()
                times[name].append(time.perf_counter() - begin)
        load_after = load_average()
        verified = verify_pdf(timestamped(pdf, key, info, worker), trusted=trusted).ok

    kind = "CA-issued seal, TSA with CRL and OCSP" if args.tsa == "pki" else "self-signed seal"
    print(
        f"{args.pages}-page PDF ({len(pdf) / 1e3:.0f} kB -> sealed {len(sealed) / 1e3:.0f} kB), "
        f"{len(info.parties)} parties, {kind}, local TSA ({args.tsa}), "
        f"{args.tsa_rounds} rounds each, {os.cpu_count()} CPUs"
    )
    print(f"load average (1, 5, 15 min): before {load_before}, after {load_after}")
    print(f"\n{'':<42}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}")
    for name, samples in times.items():
        print(
            f"{name:<42}{statistics.median(samples) * 1e3:>11.1f}"
            f"{p95(samples) * 1e3:>9.1f}{min(samples) * 1e3:>9.1f}"
        )
    without = statistics.median(times["no TSA (PAdES B-B)"])
    with_tsa = statistics.median(times["TSA, the worker's clients (B-LTA)"])
    print(f"\nwith the TSA / without: {with_tsa / without:.1f}x")
    print(f"verification of a timestamped seal: {'ok' if verified else 'FAILED'}")


def tsa_setup(
    kind: str, served: dict[str, object], directory: Path
) -> tuple[SealKey, str, list[asn1_x509.Certificate]]:
    """The seal, the TSA's address and what a verifier trusts, for the TSA started."""
    if kind == "pki":
        paths = served["seal"]
        assert isinstance(paths, list)
        key = load_seal_key(Path(paths[0]), Path(paths[1]))
        return (
            key,
            str(served["tsa_url"]),
            [pem_certificate(Path(str(served["root"])).read_bytes())],
        )
    key = load_seal_key(*create_self_signed_seal(directory / "seal", common_name="Bench"))
    tsa = pem_certificate(str(served["certificate"]).encode())
    return key, str(served["url"]), [key.certificate, tsa]


def timestamped(pdf: bytes, key: SealKey, info: CertificateInfo, stamper: TimeStamper) -> bytes:
    return seal_pdf(
        pdf,
        key=key,
        certificate=info,
        timestamper=stamper,
        fetcher_backend=sealer.fetcher_backend(),
    )


def pem_certificate(data: bytes) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(pem.unarmor(data)[2])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="seals per measurement")
    parser.add_argument("--pages", type=int, default=20, help="pages of the PDF")
    parser.add_argument(
        "--tsa",
        nargs="?",
        const="plain",
        choices=["plain", "pki"],
        help="compare sealing with a local TSA (plain, or the test PKI's) and without",
    )
    parser.add_argument("--tsa-rounds", type=int, default=10, help="seals of each kind")
    arguments = parser.parse_args()
    print_load("start")
    if arguments.tsa:
        tsa_main(arguments)
    else:
        main(arguments)
    print_load("end")
