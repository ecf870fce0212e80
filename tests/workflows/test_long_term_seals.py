"""Long-term seals against a real test PKI (`tests.fakes.pki`): a CA-issued seal and a TSA
whose chain declares CRL and OCSP addresses. A sealed file must validate years later
from what it embeds alone: pyHanko checks it with every connection refused and
revocation checking set to hard-fail, poppler's pdfsig and `openssl ts -verify` agree,
and a revoked seal seals nothing."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import cms, pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend
from pyhanko_certvalidator.policy_decl import LEGACY_POLICY_MAP, CertRevTrustPolicy
from pyhanko_certvalidator.registry import SimpleTrustManager
from sqlmodel import select

from inkpost import sealer
from inkpost.sample_pdf import make_pdf
from inkpost.sealer import SealWorker
from inkpost.settings import Settings
from storage.models import Document, Notification, SignatureRequest
from tests.conftest import Tenant
from tests.fakes.pki import REVOKED_SEAL_NAME, SEAL_NAME, TSA_NAME, LocalPki
from tests.helpers import blob_files, sealed_documents
from tests.workflows.test_completion import _decided_request
from tests.workflows.test_sealing import PEOPLE, certificate_for, party, pdfsig
from workflows.context import Env
from workflows.signing import completion, requests
from workflows.signing.seal import BadSealKey, SealingFailed, SealKey, load_seal_key, seal_pdf
from workflows.signing.seal_keys import create_self_signed_seal


@pytest.fixture(scope="module")
def ca_seal(pki: LocalPki) -> SealKey:
    return load_seal_key(*pki.seal_files)


@pytest.fixture(scope="module")
def original() -> bytes:
    return make_pdf("Lease agreement 2027", pages=2, lines=["Rent 900 EUR"])


@pytest.fixture
def refused_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every connection fails, to 127.0.0.1 too: nothing may be fetched."""

    def refuse(self: socket.socket, address: object) -> None:
        raise RuntimeError(f"an off-line check tried to connect to {address}")

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        yield


def seal_with_tsa(pdf: bytes, key: SealKey, pki: LocalPki, **kwargs: object) -> bytes:
    parties = [
        party(name, role, drawn=role == "signer", minutes=n)
        for n, (name, role) in enumerate(PEOPLE)
    ]
    clients: dict[str, object] = {
        "timestamper": HTTPTimeStamper(pki.tsa_url),
        "fetcher_backend": AIOHttpFetcherBackend(),
    }
    clients.update(kwargs)
    return seal_pdf(pdf, key=key, certificate=certificate_for(pdf, parties), **clients)  # type: ignore[arg-type]


# -- what a verifier with nothing but the file and the root sees ---------------------------


def ades_lta_results(pdf: bytes, root: asn1_x509.Certificate) -> dict[str, object]:
    """pyHanko's PAdES B-LTA validation (ETSI EN 319 102-1) of each seal signature: the
    root is trusted, revocation data is required where a certificate declares where it is
    (hard-fail), and only what the file holds may be used."""
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=CertValidationPolicySpec(
                trust_manager=SimpleTrustManager.build(trust_roots=[root]),
                revinfo_policy=CertRevTrustPolicy(LEGACY_POLICY_MAP["hard-fail"]),
            ),
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
        )
    )
    reader = PdfFileReader(io.BytesIO(pdf))
    return {
        signature.field_name: asyncio.run(ades_lta_validation(signature, spec))
        for signature in reader.embedded_regular_signatures
    }


def hard_fail_context(pdf: bytes, root: asn1_x509.Certificate) -> ValidationContext:
    """Trust in the root, the certificates and revocation data of the file's DSS, no
    fetching, and revocation data required wherever a certificate declares it."""
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf)))
    return dss.as_validation_context(
        {"trust_roots": [root], "allow_fetching": False, "revocation_mode": "hard-fail"}
    )


def assert_valid_offline(pdf: bytes, root: asn1_x509.Certificate, *, signatures: int) -> None:
    results = ades_lta_results(pdf, root)
    assert len(results) == signatures
    for field, result in results.items():
        assert result.ades_subindic == AdESPassed.OK, (field, result)  # type: ignore[attr-defined]
    reader = PdfFileReader(io.BytesIO(pdf))
    *seals, closing = reader.embedded_signatures
    for signature in seals:
        context = hard_fail_context(pdf, root)
        status = validate_pdf_signature(signature, context, context)
        assert status.bottom_line, status.pretty_print_details()
        assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    stamp = validate_pdf_timestamp(closing, validation_context=hard_fail_context(pdf, root))
    assert stamp.intact and stamp.valid and stamp.trusted, stamp
    assert closing.sig_object["/Type"] == "/DocTimeStamp"


def openssl_ts_verify(
    token: cms.ContentInfo,
    pki: LocalPki,
    tmp_path: Path,
    *,
    digest: bytes | None = None,
    data: bytes | None = None,
) -> str:
    """`openssl ts -verify` of a timestamp token over ``digest`` or ``data``, trusting the
    test root."""
    stem = hashlib.sha256(token.dump()).hexdigest()[:12]
    files = {
        "token": (tmp_path / f"{stem}.tst", token.dump()),
        "root": (tmp_path / "root.pem", pem.armor("CERTIFICATE", pki.root.dump())),
        "issuing": (tmp_path / "issuing.pem", pem.armor("CERTIFICATE", pki.intermediate.dump())),
    }
    for path, content in files.values():
        path.write_bytes(content)
    command = ["openssl", "ts", "-verify", "-in", str(files["token"][0]), "-token_in"]
    if digest is not None:
        command += ["-digest", digest.hex()]
    else:
        assert data is not None
        data_path = tmp_path / f"{stem}.data"
        data_path.write_bytes(data)
        command += ["-data", str(data_path)]
    command += ["-CAfile", str(files["root"][0]), "-untrusted", str(files["issuing"][0])]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return result.stdout.strip() or result.stderr.strip()


def signed_ranges(pdf: bytes, signature: EmbeddedPdfSignature) -> bytes:
    start, first, second, length = (int(v) for v in signature.sig_object["/ByteRange"])
    return pdf[start : start + first] + pdf[second : second + length]


def signature_timestamp(signature: EmbeddedPdfSignature) -> cms.ContentInfo:
    attributes = signature.signer_info["unsigned_attrs"]
    [token] = [
        a["values"][0] for a in attributes if a["type"].native == "signature_time_stamp_token"
    ]
    return token


# -- a CA-issued seal and a TSA with revocation addresses ---------------------------------


@pytest.fixture(scope="module")
def sealed(ca_seal: SealKey, original: bytes, pki: LocalPki) -> bytes:
    """Three parties sealed with the CA-issued seal, timestamped by the PKI's TSA, with
    revocation data fetched from the PKI's CRL and OCSP services."""
    return seal_with_tsa(original, ca_seal, pki)


def test_the_seal_and_tsa_chains_and_their_revocation_data_are_embedded(
    sealed: bytes, ca_seal: SealKey, pki: LocalPki
) -> None:
    dss = PdfFileReader(io.BytesIO(sealed)).root["/DSS"]
    embedded = {asn1_x509.Certificate.load(c.get_object().data).sha256 for c in dss["/Certs"]}
    chain = (ca_seal.certificate, pki.intermediate, pki.tsa)
    assert {cert.sha256 for cert in chain} <= embedded
    # the issuing CA's CRL (from the root) and an OCSP response each for the seal and the TSA
    assert len(dss["/CRLs"]) >= 1
    assert len(dss["/OCSPs"]) >= 2


def test_pyhanko_validates_every_signature_offline_from_what_the_file_embeds(
    sealed: bytes, pki: LocalPki, refused_connections: None
) -> None:
    assert_valid_offline(sealed, pki.root, signatures=3)

    first = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
    bare = ValidationContext(
        trust_roots=[pki.root], allow_fetching=False, revocation_mode="hard-fail", crls=[], ocsps=[]
    )
    status = validate_pdf_signature(first, bare, bare)
    assert not status.bottom_line, "without the embedded revocation data the same check fails"


def test_pdfsig_finds_every_seal_valid_and_the_closing_timestamp_covering_the_file(
    sealed: bytes, tmp_path: Path
) -> None:
    poppler = pdfsig(sealed, tmp_path)

    *seals, closing = poppler
    assert len(seals) == 3
    for entry in seals:
        assert entry["Signature Validation"] == "Signature is Valid.", entry
        assert entry["Signer Certificate Common Name"] == SEAL_NAME
        assert entry["total"] == "Not total document signed"
    assert closing["Signer Certificate Common Name"] == TSA_NAME
    assert closing["total"] == "Total document signed"


def test_openssl_verifies_every_timestamp_token_against_the_root(
    sealed: bytes, pki: LocalPki, tmp_path: Path
) -> None:
    reader = PdfFileReader(io.BytesIO(sealed))
    *seals, closing = reader.embedded_signatures

    for signature in seals:
        value = signature.signer_info["signature"].native
        verdict = openssl_ts_verify(signature_timestamp(signature), pki, tmp_path, data=value)
        assert verdict == "Verification: OK", verdict
    token = cms.ContentInfo.load(bytes(closing.sig_object["/Contents"]))
    digest = hashlib.sha256(signed_ranges(sealed, closing)).digest()
    assert openssl_ts_verify(token, pki, tmp_path, digest=digest) == "Verification: OK"
    other = hashlib.sha256(b"another file").digest()
    assert "Verification: FAILED" in openssl_ts_verify(token, pki, tmp_path, digest=other)


# -- what is refused -----------------------------------------------------------------------


@pytest.mark.parametrize("with_tsa", [True, False], ids=["with-tsa", "without-tsa"])
def test_a_revoked_seal_seals_nothing_and_says_why(
    pki: LocalPki, original: bytes, with_tsa: bool
) -> None:
    revoked = load_seal_key(*pki.revoked_seal_files)
    clients: dict[str, object] = {} if with_tsa else {"timestamper": None}

    with pytest.raises(BadSealKey) as refused:
        seal_with_tsa(original, revoked, pki, **clients)

    message = str(refused.value)
    when = pki.revoked_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f"the seal certificate '{REVOKED_SEAL_NAME}' was revoked on {when} UTC" in message
    assert "(a compromised key)" in message and "nothing was sealed" in message


def test_without_fetchers_a_chain_that_declares_revocation_addresses_is_not_sealed(
    pki: LocalPki, ca_seal: SealKey, original: bytes, tmp_path: Path
) -> None:
    with pytest.raises(SealingFailed, match=f"seal certificate '{SEAL_NAME}' cannot be checked"):
        seal_with_tsa(original, ca_seal, pki, fetcher_backend=None)

    self_signed = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Own"))
    with pytest.raises(SealingFailed, match=f"timestamp authority {pki.tsa_url} cannot be"):
        seal_with_tsa(original, self_signed, pki, fetcher_backend=None)


# -- completing requests -------------------------------------------------------------------


async def test_the_sealing_worker_completes_with_files_that_validate_offline(
    env: Env, tenant: Tenant, pki: LocalPki, ca_seal: SealKey
) -> None:
    request_id, _ = await _decided_request(env, tenant)
    settings = Settings(_env_file=None, tsa_url=pki.tsa_url)
    worker = SealWorker(
        env,
        key=ca_seal,
        timestamper=sealer.timestamper(settings),
        fetcher_backend=sealer.fetcher_backend(),
    )

    assert await worker.run_once() == 1

    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
    assert request is not None and request.status == requests.COMPLETED
    documents = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)
    assert len(documents) == 2
    for document in documents:
        pdf = b"".join([chunk async for chunk in env.blobs.read(document.blob_key)])
        await asyncio.to_thread(assert_valid_offline, pdf, pki.root, signatures=2)


async def count_documents(env: Env) -> int:
    async with env.reads() as session:
        return len((await session.exec(select(Document))).all())


async def test_a_revoked_seal_leaves_the_request_sealing_and_stores_no_sealed_file(
    env: Env, tenant: Tenant, pki: LocalPki, tmp_path: Path
) -> None:
    request_id, _ = await _decided_request(env, tenant)
    revoked = load_seal_key(*pki.revoked_seal_files)
    stored_before = blob_files(tmp_path / "blobs")
    documents_before = await count_documents(env)

    with pytest.raises(BadSealKey, match="was revoked on"):
        await completion.complete_request(
            env,
            request_id,
            key=revoked,
            timestamper=HTTPTimeStamper(pki.tsa_url),
            fetcher_backend=AIOHttpFetcherBackend(),
        )

    async with env.reads() as session:
        request = await session.get(SignatureRequest, request_id)
        rows = (await session.exec(select(Notification))).all()
    assert request is not None and request.status == requests.SEALING
    assert request.last_error is not None
    assert f"'{REVOKED_SEAL_NAME}' was revoked on" in request.last_error
    assert await sealed_documents(env, org_id=tenant.org_id, request_id=request_id) == []
    written = set(blob_files(tmp_path / "blobs")) - set(stored_before)
    assert not [path for path in written if path.read_bytes().startswith(b"%PDF")]
    assert await count_documents(env) == documents_before
    assert not [row for row in rows if row.kind in ("sign.completed", "sign.signed_file")]
