"""Checkpoints: the chain head sealed onto the durable medium, so that a history cut short
(its last events deleted and the head row rewound) no longer verifies."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from minio import Minio
from minio.commonconfig import COMPLIANCE
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sqlmodel import col, delete, select

from storage.db import make_engine, make_session_factory
from storage.models import AuditCheckpoint, AuditEvent, AuditHead
from storage.s3 import S3BlobStore
from storage.walls import Wall
from tests.conftest import Tenant, make_tenant
from tests.fakes.seaweed import S3Server, http_pool
from tests.fakes.tsa import tsa_identity
from tests.helpers import audit_events, request_signatures, sealed_documents, upload
from workflows import audit, checkpoint_checks, checkpoints
from workflows.context import Actor, Env, FixedClock
from workflows.errors import NotAllowed
from workflows.signing import completion, deciding, party_page, requests
from workflows.signing.creation import NewParty
from workflows.signing.deciding import Decision
from workflows.signing.seal import SealingFailed
from workflows.signing.seal_keys import (
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    with_organisation_seals,
)

WEB = Actor(type="party", label="page", ip="198.51.100.7", user_agent="Safari")


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


@pytest.fixture(scope="module")
def other_seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("other") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Someone else"))


@pytest.fixture
def minio(s3_server: S3Server) -> Iterator[Minio]:
    pool = http_pool()
    yield s3_server.client(pool)
    pool.clear()


async def on_s3(env: Env, minio: Minio, tmp_path: Path) -> Env:
    """``env`` with an S3 bucket of its own (Object Lock) as the medium."""
    store = S3BlobStore(
        minio,
        bucket=f"inkpost-test-{uuid.uuid4().hex[:16]}",
        retention_days=1,
        staging_dir=tmp_path / "s3-staging",
    )
    await store.ensure_bucket()
    return replace(env, blobs=store)


@pytest.fixture(params=["file", "s3"])
async def medium(request: pytest.FixtureRequest, env: Env, tmp_path: Path) -> Env:
    """The store on the file medium, and on S3 with Object Lock."""
    if request.param == "file":
        return env
    return await on_s3(env, request.getfixturevalue("minio"), tmp_path)


async def _some_history(env: Env, tenant: Tenant, documents: int = 2) -> None:
    for number in range(documents):
        await upload(
            env,
            org_id=tenant.org_id,
            client_id=tenant.client_id,
            title=f"Contract {number + 1}",
        )


async def _head(env: Env, org_id: int) -> AuditHead:
    async with env.reads() as session:
        head = await session.get(AuditHead, org_id)
    assert head is not None
    return head


async def _cut_off_after(env: Env, org_id: int, keep: int) -> None:
    """The attack: delete the events after ``keep`` and rewind the head to the new end."""
    async with env.sessions() as session, session.begin():
        last = (
            await session.exec(
                select(AuditEvent).where(AuditEvent.org_id == org_id, AuditEvent.seq == keep)
            )
        ).one()
        await session.exec(
            delete(AuditEvent).where(col(AuditEvent.org_id) == org_id, col(AuditEvent.seq) > keep)
        )
        head = await session.get(AuditHead, org_id)
        assert head is not None
        head.seq, head.hash = keep, last.hash
        session.add(head)


async def _anchor(env: Env, tenant: Tenant, seal: SealKey, **options: object) -> AuditCheckpoint:
    anchor = await checkpoints.anchor_chain(
        env,
        org_id=tenant.org_id,
        seal=seal,
        **options,  # type: ignore[arg-type]
    )
    assert anchor is not None and anchor.written
    return anchor.checkpoint


async def _blob(env: Env, key: str) -> bytes:
    return b"".join([chunk async for chunk in env.blobs.read(key)])


# -- writing -----------------------------------------------------------------------------------


async def test_a_checkpoint_seals_the_head_onto_the_medium_and_is_in_the_history(
    env: Env, tenant: Tenant, seal: SealKey, clock: FixedClock
) -> None:
    await _some_history(env, tenant)
    head = await _head(env, tenant.org_id)

    checkpoint = await _anchor(env, tenant, seal)

    assert (checkpoint.number, checkpoint.seq, checkpoint.hash) == (1, head.seq, head.hash)
    assert checkpoint.reason == checkpoints.INTERVAL and checkpoint.timestamp_key is None
    data = await _blob(env, checkpoint.statement_key)
    assert hashlib.sha256(data).hexdigest() == checkpoint.statement_key
    statement = checkpoints.Statement.decode(data)
    assert (statement.org_id, statement.org_slug) == (tenant.org_id, "acme")
    assert (statement.number, statement.seq, statement.hash) == (1, head.seq, head.hash)
    assert statement.at == clock.at and statement.previous is None
    signature = cms.ContentInfo.load(await _blob(env, checkpoint.signature_key))
    assert signature["content"]["encap_content_info"]["content"].native is None, "detached"
    [recorded] = await audit_events(env, org_id=tenant.org_id, action=checkpoints.ACTION)
    assert recorded.seq == checkpoint.event_seq == head.seq + 1
    assert recorded.details["seq"] == head.seq and recorded.details["hash"] == head.hash
    assert recorded.details["statement"] == checkpoint.statement_key
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok and (report.checkpoints, report.anchored) == (1, head.seq)


async def test_a_checkpoint_is_sealed_with_the_organisations_own_seal(
    env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    folder = tmp_path / "seal"
    own = load_seal_key(*create_self_signed_seal(folder, common_name="Inkpost seal (docs.test)"))
    installation = with_organisation_seals(own, folder, create=True)
    await _some_history(env, tenant)

    checkpoint = await _anchor(env, tenant, installation)

    carried = checkpoints.certificates_of(await _blob(env, checkpoint.signature_key))
    assert {cert.subject.native["common_name"] for cert in carried} == {
        "Acme Law",
        "Inkpost seal (docs.test): organisation seals",
    }
    trusted = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=installation.trust_anchors
    )
    assert trusted.ok
    only_the_installations = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=[installation.certificate]
    )
    assert not only_the_installations.ok


async def test_a_chain_that_did_not_move_keeps_its_checkpoint_and_a_moved_one_gets_the_next(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    await _some_history(env, tenant)
    first = await _anchor(env, tenant, seal)

    again = await checkpoints.anchor_chain(env, org_id=tenant.org_id, seal=seal)
    assert again is not None and not again.written and again.checkpoint.id == first.id

    await _some_history(env, tenant, documents=1)
    second = await _anchor(env, tenant, seal)
    assert second.number == 2 and second.seq == first.event_seq + 1
    statement = checkpoints.Statement.decode(await _blob(env, second.statement_key))
    assert statement.previous == first.statement_key
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok and (report.checkpoints, report.anchored) == (2, second.seq)


async def test_the_job_anchors_every_organisation_whose_chain_moved(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    other = await make_tenant(env, slug="beta")

    first = await checkpoints.anchor_moved_chains(env, seal=seal)
    assert sorted(c.org_id for c in first.written) == [tenant.org_id, other.org_id]
    assert first.failed == {}

    assert (await checkpoints.anchor_moved_chains(env, seal=seal)).written == []

    await _some_history(env, other, documents=1)
    third = await checkpoints.anchor_moved_chains(env, seal=seal)
    assert [(c.org_id, c.number) for c in third.written] == [(other.org_id, 2)]


async def test_events_written_while_a_checkpoint_was_being_sealed_get_one_of_their_own(
    env: Env, tenant: Tenant, seal: SealKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_seal = checkpoints._seal

    async def slow_seal(key: SealKey, data: bytes) -> bytes:
        await _some_history(env, tenant, documents=1)  # an upload meanwhile
        return await real_seal(key, data)

    monkeypatch.setattr(checkpoints, "_seal", slow_seal)
    first = await _anchor(env, tenant, seal)
    monkeypatch.setattr(checkpoints, "_seal", real_seal)

    assert first.event_seq == first.seq + 2, "the upload came between the head and its record"
    second = await _anchor(env, tenant, seal)
    assert second.seq == first.event_seq


async def test_two_processes_anchoring_one_head_write_one_checkpoint(
    env: Env, tenant: Tenant, seal: SealKey, database_url: str
) -> None:
    engine = make_engine(database_url)
    other = replace(env, sessions=make_session_factory(engine))
    try:
        anchors = await asyncio.gather(
            checkpoints.anchor_chain(env, org_id=tenant.org_id, seal=seal),
            checkpoints.anchor_chain(other, org_id=tenant.org_id, seal=seal),
        )
    finally:
        await engine.dispose()

    [checkpoint] = await checkpoints.list_checkpoints(env, org_id=tenant.org_id)
    assert all(a is not None and a.checkpoint.number == 1 for a in anchors)
    assert sorted(a.written for a in anchors if a is not None) == [False, True]
    assert len(await audit_events(env, org_id=tenant.org_id, action=checkpoints.ACTION)) == 1


async def test_a_checkpoint_overtaken_by_one_of_an_older_head_is_written_as_the_next(
    env: Env, tenant: Tenant, seal: SealKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process read the head a moment earlier and recorded checkpoint 1 while this
    one was sealing: this one becomes checkpoint 2, after it."""
    real_seal = checkpoints._seal
    head = await _head(env, tenant.org_id)
    await _some_history(env, tenant, documents=1)

    async def overtaken(key: SealKey, data: bytes) -> bytes:
        monkeypatch.setattr(checkpoints, "_seal", real_seal)
        older = checkpoints.Statement(
            org_id=tenant.org_id,
            org_slug="acme",
            number=1,
            seq=head.seq,
            hash=head.hash,
            at=env.clock.now(),
            previous=None,
            reason=checkpoints.INTERVAL,
        )
        statement = older.encode()
        await checkpoints._put(
            env, checkpoints.slot(org_id=tenant.org_id, org_slug="acme", number=1)
        )
        await checkpoints._record(
            env,
            older,
            statement_key=await checkpoints._put(env, statement),
            signature_key=await checkpoints._put(env, await real_seal(key, statement)),
            timestamp_key=None,
            request_id=None,
        )
        return await real_seal(key, data)

    monkeypatch.setattr(checkpoints, "_seal", overtaken)
    mine = await _anchor(env, tenant, seal)

    first, second = await checkpoints.list_checkpoints(env, org_id=tenant.org_id)
    assert (first.seq, second.id) == (head.seq, mine.id)
    assert second.number == 2 and second.seq == first.event_seq
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok and report.checkpoints == 2


async def test_with_a_tsa_a_checkpoint_carries_a_token_over_its_statement(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    cert, key = tsa_identity()

    checkpoint = await _anchor(
        env, tenant, seal, timestamper=DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    )

    assert checkpoint.timestamp_key is not None
    statement = await _blob(env, checkpoint.statement_key)
    token = cms.ContentInfo.load(await _blob(env, checkpoint.timestamp_key))
    info = token["content"]["encap_content_info"]["content"].parsed
    assert isinstance(info, tsp.TSTInfo)
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(statement).digest()
    [recorded] = await audit_events(env, org_id=tenant.org_id, action=checkpoints.ACTION)
    assert recorded.details["timestamped"] is True
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok


async def test_a_tsa_that_fails_leaves_no_checkpoint_and_says_which(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/tsa"
    events = len(await audit_events(env, org_id=tenant.org_id))

    with pytest.raises(checkpoints.CheckpointFailed, match=f"timestamp authority {url}"):
        await checkpoints.anchor_chain(
            env, org_id=tenant.org_id, seal=seal, timestamper=HTTPTimeStamper(url)
        )

    assert await checkpoints.list_checkpoints(env, org_id=tenant.org_id) == []
    assert len(await audit_events(env, org_id=tenant.org_id)) == events


# -- the attacks -------------------------------------------------------------------------------


async def test_a_chain_cut_short_with_its_head_rewound_is_found(medium: Env, seal: SealKey) -> None:
    tenant = await make_tenant(medium)
    await _some_history(medium, tenant, documents=3)
    checkpoint = await _anchor(medium, tenant, seal)
    keep = checkpoint.seq - 2

    await _cut_off_after(medium, tenant.org_id, keep)

    itself = await audit.verify_chain(medium, org_id=tenant.org_id)
    assert itself.ok, "the chain alone cannot see its end cut off"
    report = await checkpoint_checks.verify_history(
        medium, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert not report.ok
    assert report.first_bad_seq == keep + 1
    assert (report.expected, report.found) == (checkpoint.hash, None)
    assert report.problem == (
        f"the chain ends at event {keep}, but checkpoint 1 of 2026-11-23 12:00:00 UTC covers "
        f"event {checkpoint.seq}: expected hash {checkpoint.hash} at event {checkpoint.seq}, "
        "found no such event; events were cut off the end"
    )


async def test_a_chain_cut_short_and_grown_again_names_the_first_difference(
    medium: Env, seal: SealKey
) -> None:
    tenant = await make_tenant(medium)
    await _some_history(medium, tenant, documents=1)
    first = await _anchor(medium, tenant, seal)
    await _some_history(medium, tenant, documents=2)
    second = await _anchor(medium, tenant, seal)

    await _cut_off_after(medium, tenant.org_id, first.event_seq)
    await _some_history(medium, tenant, documents=3)  # past the second checkpoint again

    assert (await audit.verify_chain(medium, org_id=tenant.org_id)).ok
    report = await checkpoint_checks.verify_history(
        medium, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert not report.ok
    assert report.first_bad_seq == second.seq
    async with medium.reads() as session:
        found = await audit.hash_at(session, org_id=tenant.org_id, seq=second.seq)
    assert (report.expected, report.found) == (second.hash, found)
    assert report.problem == (
        f"the chain differs from checkpoint 2 of 2026-11-23 12:00:00 UTC at event "
        f"{second.seq} or before, after event {first.seq}: expected hash {second.hash}, "
        f"found {found}"
    )
    assert (report.checkpoints, report.anchored) == (1, first.seq)


async def test_a_rehashed_chain_disagrees_with_its_checkpoint(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    await _some_history(env, tenant)
    checkpoint = await _anchor(env, tenant, seal)
    async with env.sessions() as session, session.begin():
        events = (
            await session.exec(
                select(AuditEvent)
                .where(AuditEvent.org_id == tenant.org_id)
                .order_by(col(AuditEvent.seq))
            )
        ).all()
        prev = audit.GENESIS
        for event in events:  # one IP changed, every hash after it recomputed
            if event.seq == 3:
                event.ip = "192.0.2.66"
            event.prev_hash, event.hash = prev, audit.chain_hash(prev, event)
            prev = event.hash
            session.add(event)
        head = await session.get(AuditHead, tenant.org_id)
        assert head is not None
        head.hash = prev
        session.add(head)

    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert not report.ok and report.first_bad_seq == checkpoint.seq
    assert report.expected == checkpoint.hash and report.found not in (None, checkpoint.hash)


async def test_an_edited_checkpoint_on_the_file_store_fails_its_seal(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    await _some_history(env, tenant)
    checkpoint = await _anchor(env, tenant, seal)
    path = env.blobs.local_path(checkpoint.statement_key)
    assert path is not None
    original = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(original.replace(b'"seq":%d' % checkpoint.seq, b'"seq":3'))

    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )

    assert not report.ok and report.first_bad_seq is None
    assert report.problem == (
        "checkpoint 1 does not match its seal signature: it was altered on the medium"
    )


async def test_an_edited_timestamp_token_is_found(env: Env, tenant: Tenant, seal: SealKey) -> None:
    cert, key = tsa_identity()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    checkpoint = await _anchor(env, tenant, seal, timestamper=stamper)
    other = await stamper.async_timestamp(hashlib.sha256(b"something else").digest(), "sha256")
    assert checkpoint.timestamp_key is not None
    path = env.blobs.local_path(checkpoint.timestamp_key)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(other.dump())

    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )

    assert report.problem == (
        "checkpoint 1 does not match its timestamp: it was altered on the medium"
    )


async def test_a_checkpoint_overwritten_on_s3_is_read_as_it_was_sealed(
    env: Env, tenant: Tenant, seal: SealKey, minio: Minio, tmp_path: Path
) -> None:
    medium = await on_s3(env, minio, tmp_path)
    checkpoint = await _anchor(medium, tenant, seal)
    store = medium.blobs
    assert isinstance(store, S3BlobStore)
    name = store.object_name(checkpoint.statement_key)
    [version] = [v for v in minio.list_objects(store.bucket, prefix=name, include_version=True)]
    retention = minio.get_object_retention(store.bucket, name, version_id=version.version_id)
    assert retention is not None and retention.mode == COMPLIANCE

    forged = b'{"forged":true}'
    await asyncio.to_thread(minio.put_object, store.bucket, name, io.BytesIO(forged), len(forged))

    fresh = replace(
        medium,
        blobs=S3BlobStore(
            minio, bucket=store.bucket, retention_days=1, staging_dir=tmp_path / "s3-staging"
        ),
    )
    report = await checkpoint_checks.verify_history(
        fresh, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok and report.checkpoints == 1


async def test_checkpoints_deleted_from_the_database_are_missed(medium: Env, seal: SealKey) -> None:
    tenant = await make_tenant(medium)
    first = await _anchor(medium, tenant, seal)
    await _some_history(medium, tenant, documents=1)
    second = await _anchor(medium, tenant, seal)

    async with medium.sessions() as session, session.begin():
        await session.exec(delete(AuditCheckpoint).where(col(AuditCheckpoint.id) == second.id))
    await _cut_off_after(medium, tenant.org_id, first.event_seq)

    report = await checkpoint_checks.verify_history(
        medium, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert not report.ok
    assert report.problem == (
        "checkpoint 2 was written to the medium but is not in the database: checkpoints "
        "were deleted from it"
    )


async def test_a_checkpoint_sealed_by_another_seal_is_not_taken(
    env: Env, tenant: Tenant, seal: SealKey, other_seal: SealKey
) -> None:
    await _anchor(env, tenant, other_seal)

    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )

    assert not report.ok
    assert report.problem == (
        "checkpoint 1 is sealed by 'Someone else', a seal this installation does not vouch for"
    )


# -- completion ------------------------------------------------------------------------------


async def _approved_request(env: Env, tenant: Tenant) -> int:
    """A request of one PDF whose one approver has approved: it waits for its seal."""
    created = await request_signatures(
        env, tenant, NewParty(role="approver", name="Ada Approver", phone="+46 70 444 55 66")
    )
    [link] = created.parties
    for document in created.documents:
        assert document.id is not None
        await party_page.record_opened(env, link.token, document.id, actor=WEB)
    await deciding.decide(env, link.token, Decision(kind="approve", consent=True), actor=WEB)
    assert created.request.id is not None
    return created.request.id


def _text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "sealed.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_completing_a_request_writes_the_checkpoint_its_certificate_names(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    request_id = await _approved_request(env, tenant)
    decided = await audit_events(env, org_id=tenant.org_id, action="signature.approved")

    request = await completion.complete_request(env, request_id, key=seal)

    assert request.status == requests.COMPLETED
    [checkpoint] = await checkpoints.list_checkpoints(env, org_id=tenant.org_id)
    assert checkpoint.reason == checkpoints.COMPLETION and checkpoint.request_id == request_id
    assert checkpoint.seq >= decided[-1].seq, "it covers the decision"
    statement = checkpoints.Statement.decode(await _blob(env, checkpoint.statement_key))
    assert statement.request == request.ref
    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=request_id)
    text = _text_of(await _blob(env, sealed.blob_key), tmp_path)
    assert f"Sealed checkpoint on the durable medium: event #{checkpoint.seq}" in text
    assert f"SHA-256 {checkpoint.hash}" in text
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok


async def test_a_failing_tsa_fails_the_checkpoint_and_with_it_the_seal(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    request_id = await _approved_request(env, tenant)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]

    with pytest.raises(SealingFailed, match="did not timestamp the checkpoint"):
        await completion.complete_request(
            env,
            request_id,
            key=seal,
            timestamper=HTTPTimeStamper(f"http://127.0.0.1:{closed}/tsa"),
        )

    assert await checkpoints.list_checkpoints(env, org_id=tenant.org_id) == []
    assert await sealed_documents(env, org_id=tenant.org_id, request_id=request_id) == []
    done = await completion.complete_request(env, request_id, key=seal)
    assert done.status == requests.COMPLETED
    assert len(await checkpoints.list_checkpoints(env, org_id=tenant.org_id)) == 1


async def test_staff_behind_a_wall_may_not_anchor_the_history(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    walled = env.walled(Wall.of([tenant.client_id]))

    with pytest.raises(NotAllowed, match="only staff who see every client"):
        await checkpoints.anchor_chain(walled, org_id=tenant.org_id, seal=seal)

    assert await checkpoints.list_checkpoints(env, org_id=tenant.org_id) == []
