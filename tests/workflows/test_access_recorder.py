"""Group commit of visits: many opens and downloads, one transaction, nothing lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import Connection

from storage.models import Share
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import audit_events, upload
from workflows import audit
from workflows.context import Env
from workflows.errors import Gone, Unavailable
from workflows.sharing import access, links, sharing
from workflows.sharing.access import AccessRecorder, SharedDocument, Visitor

VISITOR = Visitor(ip="203.0.113.9", user_agent="Phone/1.0")


class InjectedFailure(Exception):
    pass


@pytest.fixture
async def recorder(env: Env) -> AsyncIterator[AccessRecorder]:
    recorder = AccessRecorder(env)
    await recorder.start()
    yield recorder
    await recorder.stop()


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[audit.NewEvent]]:
    """The events of every batch the recorder appends, in order."""
    seen: list[list[audit.NewEvent]] = []
    append = audit.append_events_now

    def spy(connection: Connection, events: Sequence[audit.NewEvent]) -> int:
        seen.append(list(events))
        return append(connection, events)

    monkeypatch.setattr(audit, "append_events_now", spy)
    return seen


async def _link(env: Env, tenant: Tenant, *, max_downloads: int | None = None) -> str:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    link = await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        max_downloads=max_downloads,
    )
    assert link.token is not None
    return link.token


async def _share(env: Env, found: SharedDocument) -> Share:
    async with env.sessions() as session:
        share = await session.get(Share, found.share.id)
        assert share is not None
        return share


async def test_fifty_concurrent_opens_are_fifty_events_in_a_valid_chain_with_one_first(
    env: Env, tenant: Tenant, recorder: AccessRecorder, batches: list[list[audit.NewEvent]]
) -> None:
    token = await _link(env, tenant)

    opened = await asyncio.gather(
        *(
            access.open_shared(env, token, Visitor(ip=f"127.0.0.{i}"), recorder=recorder)
            for i in range(50)
        )
    )

    events = await audit_events(env, org_id=tenant.org_id, action="document.opened")
    assert len(events) == 50
    assert sorted(e.ip or "" for e in events) == sorted(f"127.0.0.{i}" for i in range(50))
    assert [e.details["first"] for e in events] == [True] + [False] * 49
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
    share = await _share(env, opened[0])
    assert share.open_count == 50
    assert share.first_opened_at is not None
    assert len(batches) < 50, "visits waiting together are committed together"


async def test_the_first_open_is_marked_once_whichever_way_visits_are_recorded(
    env: Env, tenant: Tenant, recorder: AccessRecorder
) -> None:
    token = await _link(env, tenant)

    await access.open_shared(env, token, VISITOR)
    await access.open_shared(env, token, VISITOR, recorder=recorder)

    events = await audit_events(env, org_id=tenant.org_id, action="document.opened")
    assert [e.details["first"] for e in events] == [True, False]


async def test_three_downloads_left_let_exactly_three_of_ten_concurrent_downloads_through(
    env: Env, tenant: Tenant, recorder: AccessRecorder
) -> None:
    token = await _link(env, tenant, max_downloads=3)

    outcomes = await asyncio.gather(
        *(access.start_download(env, token, VISITOR, recorder=recorder) for _ in range(10)),
        return_exceptions=True,
    )

    served = [o for o in outcomes if isinstance(o, SharedDocument)]
    refused = [o for o in outcomes if isinstance(o, Gone)]
    assert (len(served), len(refused)) == (3, 7)
    assert all("download limit" in str(e) for e in refused)
    events = await audit_events(env, org_id=tenant.org_id, action="document.downloaded")
    assert [e.details["download"] for e in events] == [1, 2, 3]
    assert (await _share(env, served[0])).download_count == 3
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
    with pytest.raises(Gone):
        await access.open_shared(env, token, VISITOR, recorder=recorder)


async def test_a_link_revoked_after_it_was_resolved_is_refused_and_records_nothing(
    env: Env, tenant: Tenant, recorder: AccessRecorder
) -> None:
    token = await _link(env, tenant)
    found = await access.resolve(env, token)
    assert found.share.id is not None
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=found.share.id)

    with pytest.raises(Gone, match="revoked"):
        await recorder.record("open", found, VISITOR)

    assert await audit_events(env, org_id=tenant.org_id, action="document.opened") == []
    assert (await _share(env, found)).open_count == 0


async def test_a_failed_batch_fails_every_waiter_and_the_next_batch_is_written(
    env: Env, tenant: Tenant, recorder: AccessRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await _link(env, tenant)
    found = await access.resolve(env, token)
    append = audit.append_events_now
    sizes: list[int] = []

    def failing(connection: Connection, events: Sequence[audit.NewEvent]) -> int:
        sizes.append(len(events))
        append(connection, events)  # written, then rolled back with the rest
        raise InjectedFailure("the disk is full")

    monkeypatch.setattr(audit, "append_events_now", failing)
    outcomes = await asyncio.gather(
        *(recorder.record("open", found, VISITOR) for _ in range(5)), return_exceptions=True
    )
    monkeypatch.setattr(audit, "append_events_now", append)

    assert sizes == [5], "the five visits were one batch"
    assert all(isinstance(o, InjectedFailure) for o in outcomes)
    assert await audit_events(env, org_id=tenant.org_id, action="document.opened") == []
    assert (await _share(env, found)).open_count == 0

    await access.open_shared(env, token, VISITOR, recorder=recorder)

    events = await audit_events(env, org_id=tenant.org_id, action="document.opened")
    assert [e.details["first"] for e in events] == [True]
    assert (await _share(env, found)).open_count == 1
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok


async def test_stopping_writes_the_visits_already_queued_and_refuses_later_ones(
    env: Env, tenant: Tenant
) -> None:
    token = await _link(env, tenant)
    found = await access.resolve(env, token)
    recorder = AccessRecorder(env)
    await recorder.start()

    waiting = [asyncio.create_task(recorder.record("open", found, VISITOR)) for _ in range(10)]
    await asyncio.sleep(0)  # all ten are queued
    await recorder.stop()

    await asyncio.gather(*waiting)
    assert len(await audit_events(env, org_id=tenant.org_id, action="document.opened")) == 10
    with pytest.raises(Unavailable):
        await recorder.record("open", found, VISITOR)


async def test_stopping_a_stuck_recorder_fails_its_waiters_instead_of_leaving_them_hanging(
    env: Env, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await _link(env, tenant)
    found = await access.resolve(env, token)
    writing, never = asyncio.Event(), asyncio.Event()

    async def stuck(env: Env, batch: Sequence[access._Visit]) -> dict[access._Visit, Exception]:
        writing.set()
        await never.wait()
        return {}

    monkeypatch.setattr(access, "_record_visits", stuck)
    recorder = AccessRecorder(env, stop_timeout=0.2)
    await recorder.start()
    first = asyncio.create_task(recorder.record("open", found, VISITOR))
    await asyncio.wait_for(writing.wait(), timeout=5)  # the first batch is written, and hangs
    queued = asyncio.create_task(recorder.record("open", found, VISITOR))
    await asyncio.sleep(0)  # record() queues the visit before it first waits

    await asyncio.wait_for(recorder.stop(), timeout=5)

    for waiter in (first, queued):
        with pytest.raises(Unavailable):
            await asyncio.wait_for(waiter, timeout=5)
    assert await audit_events(env, org_id=tenant.org_id, action="document.opened") == []


async def test_visits_to_two_organisations_in_one_batch_keep_both_chains_valid(
    env: Env, tenant: Tenant, recorder: AccessRecorder, batches: list[list[audit.NewEvent]]
) -> None:
    other = await make_tenant(env, "beta")
    ours = await access.resolve(env, await _link(env, tenant))
    theirs = await access.resolve(env, await _link(env, other))
    batches.clear()  # making the links appended their own events

    await asyncio.gather(
        *(
            recorder.record(kind, found, VISITOR)
            for _ in range(6)
            for found in (ours, theirs)
            for kind in ("open", "download")
        )
    )

    assert len(batches) == 1
    assert {event.org_id for event in batches[0]} == {tenant.org_id, other.org_id}
    for org_id, found in ((tenant.org_id, ours), (other.org_id, theirs)):
        assert (await audit.verify_chain(env, org_id=org_id)).ok
        opened = await audit_events(env, org_id=org_id, action="document.opened")
        downloaded = await audit_events(env, org_id=org_id, action="document.downloaded")
        assert [e.details["first"] for e in opened] == [True] + [False] * 5
        assert [e.details["download"] for e in downloaded] == [1, 2, 3, 4, 5, 6]
        share = await _share(env, found)
        assert (share.open_count, share.download_count) == (6, 6)


async def test_a_visit_waits_for_a_writer_holding_its_share_and_is_then_recorded(
    env: Env, tenant: Tenant
) -> None:
    """With the share locked by another transaction (on SQLite, with the store's write lock
    held), the visit's batch waits in an ordinary session instead of failing, and is
    written in full once the other ends."""
    token = await _link(env, tenant)
    found = await access.resolve(env, token)
    holding, release = asyncio.Event(), asyncio.Event()

    async def other_writer() -> None:
        async with env.sessions() as session, session.begin():
            share = await session.get(Share, found.share.id, with_for_update=True)
            assert share is not None
            share.message = "held a while"
            session.add(share)
            await session.flush()
            holding.set()
            await release.wait()

    other = asyncio.create_task(other_writer())
    await asyncio.wait_for(holding.wait(), timeout=10)
    visit = asyncio.create_task(access.open_shared(env, token, VISITOR))
    await asyncio.sleep(0.2)
    assert not visit.done()  # waiting for the lock, not refused
    release.set()
    await other
    await asyncio.wait_for(visit, timeout=10)

    assert (await _share(env, found)).open_count == 1
    assert len(await audit_events(env, org_id=tenant.org_id, action="document.opened")) == 1
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
