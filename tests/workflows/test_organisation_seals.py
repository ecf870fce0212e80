"""Without a configured seal, each organisation seals with a default seal of its own that
bears its name, certified by the installation's issuer, which `/verify` trusts."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from inkpost.sample_pdf import make_pdf
from inkpost.seal import ensure_seal
from inkpost.settings import Settings
from tests.conftest import Tenant
from tests.fakes.tsa import tsa_identity
from tests.helpers import sealed_documents
from tests.workflows.test_completion import _decided_request, _sealed_bytes
from tests.workflows.test_sealing import party, pdfsig, seal_of
from workflows.context import Env
from workflows.signing import completion
from workflows.signing.seal import verify_pdf
from workflows.signing.seal_keys import (
    RENEW_BEFORE,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    with_organisation_seals,
)
from workflows.signing.verification import check_sealed

ORGANISATION = "Kancelaria Łukasz Żółć sp.k."


@pytest.fixture
def installation(tmp_path: Path) -> SealKey:
    """An installation's default seal, with the organisations' seals beside it."""
    folder = tmp_path / "seal"
    own = load_seal_key(*create_self_signed_seal(folder, common_name="Inkpost seal (docs.test)"))
    return with_organisation_seals(own, folder, create=True)


def test_an_organisations_default_seal_bears_its_name_and_verifies(
    installation: SealKey, tmp_path: Path
) -> None:
    seal = installation.for_organisation(7, ORGANISATION)

    assert seal.common_name == ORGANISATION
    assert seal.chain[0].sha256 == installation.trust_anchors[1].sha256  # the issuer
    sealed = seal_of(make_pdf("Lease", pages=1), seal, [party("Ada", "signer")])
    [entry] = pdfsig(sealed, tmp_path)
    assert entry["Signer Certificate Common Name"] == ORGANISATION
    assert entry["Signature Validation"] == "Signature is Valid."
    assert verify_pdf(sealed, trusted=installation).ok
    assert not verify_pdf(sealed, trusted=[installation.certificate]).ok  # trusted by issuer
    assert installation.for_organisation(7, ORGANISATION).certificate.sha256 == (
        seal.certificate.sha256
    )
    other = installation.for_organisation(8, "Nordic Accounting AB")
    assert other.common_name == "Nordic Accounting AB"
    assert other.certificate.sha256 != seal.certificate.sha256


def test_a_renamed_organisation_gets_a_seal_with_its_new_name(installation: SealKey) -> None:
    before = installation.for_organisation(7, "Acme Law")

    after = installation.for_organisation(7, "Acme Law & Partners")

    assert after.common_name == "Acme Law & Partners"
    assert after.certificate.sha256 != before.certificate.sha256
    again = installation.for_organisation(7, "Acme Law")  # the old seal is kept
    assert again.certificate.sha256 == before.certificate.sha256


def test_a_long_name_is_shortened_to_what_a_certificate_holds(installation: SealKey) -> None:
    name = "Kancelaria Adwokacka " + "Żółć " * 20

    seal = installation.for_organisation(3, name)

    assert 60 < len(seal.common_name.encode()) <= 64 and seal.common_name.endswith("…")
    assert name.startswith(seal.common_name[:-1])


def test_two_workers_making_an_organisations_seal_at_once_make_one(
    installation: SealKey,
) -> None:
    barrier = threading.Barrier(4)
    made: list[bytes] = []

    def make() -> None:
        barrier.wait()
        made.append(installation.for_organisation(5, ORGANISATION).certificate.sha256)

    workers = [threading.Thread(target=make) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(made) == 4 and len(set(made)) == 1
    folder = next((installation.organisation_seals.directory / "5").iterdir())  # type: ignore[union-attr]
    assert sorted(p.name for p in folder.iterdir()) == ["seal.key", "seal.pem"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".new-")]


def test_an_organisations_seal_is_renewed_in_its_last_year_and_the_old_one_still_verifies(
    installation: SealKey,
) -> None:
    first = installation.for_organisation(4, ORGANISATION)
    sealed_before = seal_of(make_pdf("Lease", pages=1), first, [party("Ada", "signer")])
    last_year = first.not_after - RENEW_BEFORE + dt.timedelta(days=1)

    assert (
        installation.for_organisation(
            4, ORGANISATION, now=last_year - dt.timedelta(days=2)
        ).certificate.sha256
        == first.certificate.sha256
    )
    renewed = installation.for_organisation(4, ORGANISATION, now=last_year)

    assert renewed.certificate.sha256 != first.certificate.sha256
    assert renewed.common_name == ORGANISATION
    assert renewed.not_after > first.not_after + dt.timedelta(days=3000)
    again = installation.for_organisation(4, ORGANISATION, now=last_year)
    assert again.certificate.sha256 == renewed.certificate.sha256
    assert verify_pdf(sealed_before, trusted=installation).ok
    assert renewed.chain[0].sha256 == installation.trust_anchors[1].sha256  # same issuer


def test_a_seal_is_not_renewed_when_its_issuer_would_not_let_the_new_one_live_longer(
    installation: SealKey,
) -> None:
    first = installation.for_organisation(4, ORGANISATION)
    renewal_time = first.not_after - RENEW_BEFORE + dt.timedelta(days=1)
    renewed = installation.for_organisation(4, ORGANISATION, now=renewal_time)
    assert renewed.certificate.sha256 != first.certificate.sha256  # capped by the issuer

    near_the_issuers_end = renewed.not_after - dt.timedelta(days=30)
    kept = installation.for_organisation(4, ORGANISATION, now=near_the_issuers_end)

    assert kept.certificate.sha256 == renewed.certificate.sha256


def test_a_configured_seal_seals_for_every_organisation(tmp_path: Path) -> None:
    own = load_seal_key(*create_self_signed_seal(tmp_path / "own", common_name="Acme seal"))

    assert own.for_organisation(1, "Acme Law") is own
    assert own.trust_anchors == (own.certificate,)


def test_without_an_issuer_a_loader_seals_with_the_installations_seal(tmp_path: Path) -> None:
    folder = tmp_path / "seal"
    own = load_seal_key(*create_self_signed_seal(folder, common_name="Inkpost seal"))

    loaded = with_organisation_seals(own, folder, create=False)

    assert loaded.for_organisation(1, "Acme Law") is loaded
    assert not (folder / "issuer.pem").exists()


def test_an_existing_installation_keeps_its_seal_and_gains_an_issuer(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_url="https://docs.acme.test")
    folder = tmp_path / "data" / "seal"
    create_self_signed_seal(folder, common_name="Inkpost seal (docs.acme.test)")
    before = (folder / "seal.pem").read_bytes()

    setup = ensure_seal(settings)

    assert setup.outcome == "kept" and (folder / "seal.pem").read_bytes() == before
    seal, issuer = setup.key.trust_anchors
    assert seal.sha256 == setup.key.certificate.sha256
    assert (
        issuer.subject.native["common_name"] == "Inkpost seal (docs.acme.test): organisation seals"
    )
    assert ensure_seal(settings).key.trust_anchors[1].sha256 == issuer.sha256  # made once


async def test_completion_seals_with_the_organisations_own_seal(
    env: Env, tenant: Tenant, installation: SealKey
) -> None:
    request_id, _ = await _decided_request(env, tenant)

    await completion.complete_request(env, request_id, key=installation)

    for document in await sealed_documents(env, org_id=tenant.org_id, request_id=request_id):
        pdf = await _sealed_bytes(env, document)
        report = await asyncio.to_thread(verify_pdf, pdf, trusted=installation)
        assert report.ok and {c.signer for c in report.signatures} == {"Acme Law"}
        verdict = await check_sealed(env, pdf, trusted=installation.trust_anchors)
        assert verdict.state == "sealed_and_matching"


def test_an_organisations_seal_closes_with_a_timestamp_too(installation: SealKey) -> None:
    cert, key = tsa_identity()
    seal = installation.for_organisation(7, ORGANISATION)

    sealed = seal_of(
        make_pdf("Lease", pages=1),
        seal,
        [party("Ada", "signer")],
        timestamper=DummyTimeStamper(tsa_cert=cert, tsa_key=key),
    )

    report = verify_pdf(sealed, trusted=[*installation.trust_anchors, cert])
    assert report.ok and [c.kind for c in report.signatures] == ["signature", "timestamp"]
