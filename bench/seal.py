"""How fast a completed request's PDF is sealed, next to bare pyHanko doing the same work.

    python bench/seal.py [--rounds 40] [--pages 20]

A 20-page PDF (``inkpost.sample_pdf.make_pdf``) and a fresh self-signed ECDSA P-256 seal;
three parties (two signers with drawn signatures, one approver), no TSA. Reported:

- seals/s of Inkpost's whole sealing step, ``workflows.signing.seal.seal_pdf``: checks the
  inputs, appends the completion certificate page, adds three incremental PAdES
  signatures (two with visible stamps);
- seals/s of the like-for-like baseline, in the same run with the same key: bare pyHanko
  appending one page and making three incremental ``PdfSigner.sign_pdf`` signatures
  (invisible, ``ETSI.CAdES.detached``), since the whole step signs once per party;
- their ratio (goal >= 0.8);
- p95 of the time from "seal this" to the sealed PDF being stored: ``seal_pdf`` in a
  worker thread, as the async sealing worker runs it, then written to a file blob store
  (fsync'd) (goal <= 300 ms without a TSA).

Every tenth sealed PDF is verified with ``verify_pdf``; a failure is printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402
from pyhanko.pdf_utils import generic  # noqa: E402
from pyhanko.pdf_utils.generic import pdf_name  # noqa: E402
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter  # noqa: E402
from pyhanko.sign import fields, signers  # noqa: E402

from inkpost.sample_pdf import make_pdf  # noqa: E402
from storage.blobs import FileBlobStore, stage  # noqa: E402
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
    verify_pdf,
)

DECIDED = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def drawn_signature() -> bytes:
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    ImageDraw.Draw(image).line([(10, 120), (120, 30), (240, 140), (470, 40)], fill="navy", width=6)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def certificate_for(pdf: bytes) -> CertificateInfo:
    png = drawn_signature()
    people = [("Alice Anders", "signer", png), ("Bruno Becker", "approver", None)]
    people.append(("Chloé Carré", "signer", png))
    parties = tuple(
        PartyRecord(
            decision=PartyDecision(
                name=name,
                role=role,  # type: ignore[arg-type]
                decided_at=DECIDED + dt.timedelta(minutes=n),
                auth_level="one-time code via Telegram",
                ip="203.0.113.7",
                user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0",
                signature_png=drawing,
            ),
            events=tuple(
                PartyEvent(DECIDED - dt.timedelta(minutes=k), f"event {k}", "203.0.113.7")
                for k in range(4)
            ),
        )
        for n, (name, role, drawing) in enumerate(people)
    )
    return CertificateInfo(
        request_ref="S-1",
        title="Benchmark agreement",
        organisation="Bench Law",
        documents=(DocumentEntry("Benchmark", "bench.pdf", hashlib.sha256(pdf).hexdigest()),),
        parties=parties,
        audit_head=AuditHead(seq=1, hash="ab" * 32),
        completed_at=DECIDED + dt.timedelta(minutes=5),
    )


def bare_pyhanko(pdf: bytes, key: SealKey, signatures: int) -> bytes:
    """The baseline: one appended page and ``signatures`` plain incremental signatures."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    content = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 770 Td (Certificate) Tj ET")
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Courier"),
        }
    )
    page = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Page"),
            pdf_name("/MediaBox"): generic.ArrayObject(
                generic.NumberObject(v) for v in (0, 0, 595, 842)
            ),
            pdf_name("/Resources"): generic.DictionaryObject(
                {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
            ),
            pdf_name("/Contents"): writer.add_object(content),
        }
    )
    writer.insert_page(page)
    data = b""
    for number in range(1, signatures + 1):
        if number > 1:
            writer = IncrementalPdfFileWriter(io.BytesIO(data))
        meta = signers.PdfSignatureMetadata(
            field_name=f"Bare-{number}",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=f"party {number}",
            name=f"Party {number}",
        )
        data = signers.PdfSigner(meta, signer=key.signer).sign_pdf(writer).getvalue()
    return data


def rate(work: object, rounds: int) -> tuple[float, list[float]]:
    assert callable(work)
    times = []
    started = time.perf_counter()
    for _ in range(rounds):
        begin = time.perf_counter()
        work()
        times.append(time.perf_counter() - begin)
    return rounds / (time.perf_counter() - started), times


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def stored_latencies(
    pdf: bytes, key: SealKey, info: CertificateInfo, blobs: FileBlobStore, rounds: int
) -> tuple[list[float], int]:
    times, failures = [], 0
    for number in range(rounds):
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
        for _ in range(3):  # warm-up: imports, caches
            seal_pdf(pdf, key=key, certificate=info)
            bare_pyhanko(pdf, key, signatures)
        ours, ours_times = rate(lambda: seal_pdf(pdf, key=key, certificate=info), args.rounds)
        bare, bare_times = rate(lambda: bare_pyhanko(pdf, key, signatures), args.rounds)
        stored, failures = asyncio.run(stored_latencies(pdf, key, info, blobs, args.rounds))
        sealed = seal_pdf(pdf, key=key, certificate=info)

    print(
        f"{args.pages}-page PDF ({len(pdf) / 1e3:.0f} kB -> sealed {len(sealed) / 1e3:.0f} kB), "
        f"{signatures} parties, ECDSA P-256 seal, no TSA, {args.rounds} rounds, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"\n{'':<44}{'seals/s':>9}{'median ms':>11}{'p95 ms':>9}")
    rows = [
        ("seal_pdf (certificate + 3 signatures)", ours, ours_times),
        ("bare pyHanko (page + 3 x sign_pdf)", bare, bare_times),
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="seals per measurement")
    parser.add_argument("--pages", type=int, default=20, help="pages of the PDF")
    main(parser.parse_args())
