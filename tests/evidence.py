"""Every PDF Inkpost seals while the tests run is checked by tools nobody here wrote.

Whatever a test makes of a sealed file, the file itself must be sound evidence: poppler's
``pdfsig`` finds each of Inkpost's signatures valid and the last signature covering the
whole file, ``qpdf --check`` finds no damage and ``pdffonts`` no font left out. The
check runs after each test on every file `seal_pdf` and `seal_certificate` produced in
it. What the input brought is the input's and is not judged here: signatures made before
sealing, by others, and fonts it did not embed (the test documents use Helvetica, as
many office PDFs do); a PDF/A input embeds all of its fonts, so its sealed file must too.
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from asn1crypto import pem
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from workflows.signing import seal as seal_module

OURS = re.compile(r"InkpostSeal(-|$)")


def pdfsig(pdf: bytes, tmp_path: Path) -> list[dict[str, str]]:
    """poppler's view of every signature: its ``- Key: value`` lines, plus ``total``."""
    path = tmp_path / f"sealed-{hashlib.sha256(pdf).hexdigest()[:12]}.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["pdfsig", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    signatures: list[dict[str, str]] = []
    for line in result.stdout.splitlines():
        if re.match(r"Signature #\d+:", line):
            signatures.append({})
        elif line.startswith("  - ") and signatures:
            text = line[4:]
            key, _, value = text.partition(": ")
            signatures[-1][key if value else "total"] = value or text
    return signatures


def problems_of(pdf: bytes, directory: Path, *, sealed_from: bytes | None = None) -> list[str]:
    """What poppler and qpdf find wrong with a sealed file (made from ``sealed_from``);
    empty when nothing."""
    found = []
    signatures = pdfsig(pdf, directory)
    ours = [s for s in signatures if OURS.match(s.get("Signature Field Name", ""))]
    if not ours:
        found.append("pdfsig finds none of Inkpost's signatures")
    for entry in ours:
        name = entry.get("Signature Field Name", "")
        if entry.get("Signature Validation") == "Signature is Valid.":
            continue
        if entry.get("Signature Type") == "unknown" and name.endswith("-timestamp"):
            # poppler 22 does not check document timestamps (ETSI.RFC3161): openssl does
            if problem := _timestamp_problem(pdf, name, directory):
                found.append(f"openssl ts -verify: {name}: {problem}")
            continue
        found.append(f"pdfsig: {name}: {entry}")
    if signatures and signatures[-1].get("total") != "Total document signed":
        found.append("pdfsig: the last signature does not cover the whole file")
    path = directory / "evidence-check.pdf"
    path.write_bytes(pdf)
    qpdf = subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if qpdf.returncode != 0:
        found.append(f"qpdf --check: {qpdf.stdout.strip()} {qpdf.stderr.strip()}")
    brought = _not_embedded(sealed_from, directory) if sealed_from is not None else set()
    for font in _not_embedded(pdf, directory) - brought:
        found.append(f"pdffonts: not embedded: {font}")
    return found


def _timestamp_problem(pdf: bytes, field: str, directory: Path) -> str | None:
    """Whether the document timestamp in ``field`` is intact over the bytes it covers,
    as openssl sees it (trusting the certificates the token carries: trust in the TSA is
    the verifier's call; this checks the imprint and the token's own signature)."""
    reader = PdfFileReader(io.BytesIO(pdf))
    [signature] = [s for s in reader.embedded_signatures if s.field_name == field]
    start, first, second, length = (int(v) for v in signature.sig_object["/ByteRange"])
    token = directory / "token.der"
    token.write_bytes(_der_value(signature.sig_object["/Contents"]))
    data = directory / "covered.bin"
    data.write_bytes(pdf[start : start + first] + pdf[second : second + length])
    carried = directory / "carried.pem"
    carried.write_bytes(
        b"".join(
            pem.armor("CERTIFICATE", choice.chosen.dump())
            for choice in signature.signed_data["certificates"]
        )
    )
    result = subprocess.run(
        ["openssl", "ts", "-verify", "-token_in", "-in", str(token), "-data", str(data)]
        + ["-CAfile", str(carried), "-partial_chain"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "Verification: OK" in result.stdout:
        return None
    return (result.stdout + result.stderr).strip()


def _der_value(padded: bytes) -> bytes:
    """The DER value at the start of a signature's /Contents, without the zero padding
    after it (read by its encoded length: the value itself may end in a zero byte)."""
    first = padded[1]
    if first < 0x80:
        return padded[: 2 + first]
    count = first & 0x7F
    length = int.from_bytes(padded[2 : 2 + count], "big")
    return padded[: 2 + count + length]


def _not_embedded(pdf: bytes, directory: Path) -> set[str]:
    """The fonts poppler finds not embedded in ``pdf``: name, type and object number."""
    path = directory / "fonts-check.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, text=True, timeout=60, check=True
    )
    rows = set()
    for line in fonts.stdout.splitlines()[2:]:
        columns = re.match(r"(\S+)\s+(.+?)\s{2,}(\S+)\s+(yes|no)\s+(yes|no)\s+(yes|no)", line)
        if columns is None or columns[4] != "yes":
            rows.add(" ".join(line.split()))
    return rows


@contextmanager
def every_sealed_file_checked(
    monkeypatch: pytest.MonkeyPatch, directory: Callable[[], Path]
) -> Iterator[list[bytes]]:
    """Record each file sealing produces while the block runs; then check them all, in
    a folder ``directory()`` makes when there is any."""
    made: list[tuple[bytes, bytes]] = []
    sealing = seal_module._run

    def recorded(writer: IncrementalPdfFileWriter, plan: object) -> bytes:
        stream = writer.input_stream
        stream.seek(0)
        given = stream.read()
        sealed = sealing(writer, plan)  # type: ignore[arg-type]
        made.append((given, sealed))
        return sealed

    monkeypatch.setattr(seal_module, "_run", recorded)
    yield [sealed for _, sealed in made]
    folder = directory() if made else Path()
    for number, (given, pdf) in enumerate(made, start=1):
        problems = problems_of(pdf, folder, sealed_from=given)
        assert not problems, f"sealed file {number} of {len(made)}: " + "; ".join(problems)
