"""The check every sealed file of the suite passes (tests/evidence.py) finds what it
should: a changed byte, an update after the last seal, a font left out."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from inkpost.sample_pdf import make_pdf
from tests.evidence import _der_value, problems_of
from tests.fakes.tsa import tsa_identity
from tests.workflows.pdf_inputs import pdfa_pdf
from tests.workflows.test_sealing import party, seal_of
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A sealed PDF/A input: every font embedded."""
    folder = tmp_path_factory.mktemp("seal") / "seal"
    key: SealKey = load_seal_key(*create_self_signed_seal(folder, common_name="Acme Law seal"))
    return seal_of(pdfa_pdf("Lease", pages=1), key, [party("Ada", "signer")])


def test_a_sound_sealed_file_has_no_problems(sealed: bytes, tmp_path: Path) -> None:
    assert problems_of(sealed, tmp_path) == []


def test_a_changed_byte_is_found(sealed: bytes, tmp_path: Path) -> None:
    at = sealed.index(b"/MediaBox")
    changed = sealed[:at] + b"/MediaBoy" + sealed[at + 9 :]

    assert any(p.startswith("pdfsig") for p in problems_of(changed, tmp_path))


def test_an_update_after_the_last_seal_is_found(sealed: bytes, tmp_path: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    writer.root[pdf_name("/Lang")] = generic.pdf_string("en")
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)

    problems = problems_of(out.getvalue(), tmp_path)

    assert "pdfsig: the last signature does not cover the whole file" in problems


def test_a_font_left_out_is_found(sealed: bytes, tmp_path: Path) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(sealed))
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Helvetica"),
        }
    )
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    page[pdf_name("/Resources")] = generic.DictionaryObject(
        {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F9"): writer.add_object(font)})}
    )
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)

    assert any(
        p.startswith("pdffonts: not embedded") for p in problems_of(out.getvalue(), tmp_path)
    )


def test_a_font_the_input_did_not_embed_is_the_inputs_own(tmp_path: Path) -> None:
    given = make_pdf("Lease", pages=1)  # Helvetica, not embedded
    folder = tmp_path / "seal"
    key = load_seal_key(*create_self_signed_seal(folder, common_name="Acme Law seal"))
    sealed = seal_of(given, key, [party("Ada", "signer")])

    assert problems_of(sealed, tmp_path, sealed_from=given) == []
    assert any(p.startswith("pdffonts: not embedded") for p in problems_of(sealed, tmp_path))


def test_a_closing_timestamp_over_other_bytes_is_found(tmp_path: Path) -> None:
    folder = tmp_path / "seal"
    key = load_seal_key(*create_self_signed_seal(folder, common_name="Acme Law seal"))
    cert, tsa_key = tsa_identity()
    stamped = seal_of(
        pdfa_pdf("Lease", pages=1),
        key,
        [party("Ada", "signer")],
        timestamper=DummyTimeStamper(tsa_cert=cert, tsa_key=tsa_key),
    )
    assert problems_of(stamped, tmp_path) == []
    at = stamped.rindex(b"/MediaBox")  # inside what the closing timestamp covers
    changed = stamped[:at] + b"/MediaBoy" + stamped[at + 9 :]

    problems = problems_of(changed, tmp_path)

    assert any(p.startswith("openssl ts -verify: InkpostSeal-") for p in problems), problems


def test_a_token_ending_in_a_zero_byte_keeps_it() -> None:
    value = bytes([0x30, 0x82, 0x01, 0x00]) + b"\x01" * 255 + b"\x00"

    assert _der_value(value + b"\x00" * 40) == value
    assert _der_value(bytes([0x30, 0x03, 7, 8, 0]) + b"\x00" * 9) == bytes([0x30, 0x03, 7, 8, 0])
