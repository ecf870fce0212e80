"""The history: every action leaves an event; any tampering with the chain is found."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from storage import bulk
from storage.models import AuditHead
from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import audit_events, upload
from workflows import audit
from workflows.context import Env
from workflows.errors import NotFound
from workflows.sharing import access, links, sharing
from workflows.sharing.access import Visitor


async def _busy_history(env: Env, tenant: Tenant) -> int:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    assert link.token is not None
    await access.open_shared(env, link.token, Visitor(ip="203.0.113.9", user_agent="Phone/1.0"))
    await access.start_download(env, link.token, Visitor(ip="203.0.113.9", user_agent="Phone/1.0"))
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=link.share.id)
    assert document.id is not None
    return document.id


async def test_every_action_is_an_event_in_one_unbroken_chain(env: Env, tenant: Tenant) -> None:
    document_id = await _busy_history(env, tenant)

    events = await audit_events(env, org_id=tenant.org_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == audit.GENESIS
    pairs = zip(events, events[1:], strict=False)
    assert all(later.prev_hash == earlier.hash for earlier, later in pairs)
    history = await audit.document_history(env, org_id=tenant.org_id, document_id=document_id)
    assert [e.action for e in history] == [
        "document.added",
        "link.created",
        "document.opened",
        "document.downloaded",
        "share.revoked",
    ]
    opened = history[2]
    assert (opened.actor_type, opened.ip, opened.user_agent) == ("link", "203.0.113.9", "Phone/1.0")
    assert history[3].details == {"download": 1}
    report = await audit.verify_chain(env, org_id=tenant.org_id)
    assert report.ok and report.events == len(events)


WHERE = " WHERE seq = {seq} AND org_id = {org}"
TAMPERING = {
    "action": "UPDATE auditevent SET action = 'document.viewed'" + WHERE,
    "details": "UPDATE auditevent SET details = '{{}}'" + WHERE,
    "ip": "UPDATE auditevent SET ip = '198.51.100.1'" + WHERE,
    "actor": "UPDATE auditevent SET actor_label = 'someone else'" + WHERE,
    "time": "UPDATE auditevent SET at = at + interval '1 second'" + WHERE,
    "rehashed": (
        "UPDATE auditevent SET action = 'x', hash = '" + "ab" * 32 + "' "
        "WHERE seq = {seq} AND org_id = {org}"
    ),
    "deleted": "DELETE FROM auditevent WHERE seq = {seq} AND org_id = {org}",
}


@pytest.mark.parametrize("field", sorted(TAMPERING))
async def test_tampering_with_any_event_is_detected_and_named(
    env: Env, tenant: Tenant, field: str
) -> None:
    await _busy_history(env, tenant)
    statement = TAMPERING[field].format(seq=6, org=tenant.org_id)
    async with env.sessions() as session, session.begin():
        if session.get_bind().dialect.name == "sqlite":
            statement = statement.replace("at + interval '1 second'", "datetime(at, '+1 second')")
        await session.exec(text(statement))  # type: ignore[call-overload]

    report = await audit.verify_chain(env, org_id=tenant.org_id)

    assert not report.ok
    assert report.first_bad_seq in (6, 7)
    assert report.problem


async def test_removing_the_newest_events_is_detected(env: Env, tenant: Tenant) -> None:
    await _busy_history(env, tenant)
    events = await audit_events(env, org_id=tenant.org_id)
    async with env.sessions() as session, session.begin():
        await session.exec(  # type: ignore[call-overload]
            text(
                f"DELETE FROM auditevent WHERE org_id = {tenant.org_id} AND seq = {events[-1].seq}"
            )
        )
    report = await audit.verify_chain(env, org_id=tenant.org_id)
    assert not report.ok and "missing from the end" in (report.problem or "")


async def test_chains_are_per_organisation(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    await _busy_history(env, tenant)
    assert (await audit.verify_chain(env, org_id=other.org_id)).events == 4
    assert (await audit_events(env, org_id=other.org_id))[0].seq == 1


async def test_concurrent_writers_line_up_instead_of_forking_the_chain(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    assert link.token is not None
    token = link.token

    await asyncio.gather(
        *(access.open_shared(env, token, Visitor(ip=f"127.0.0.{i}")) for i in range(20))
    )

    report = await audit.verify_chain(env, org_id=tenant.org_id)
    assert report.ok
    opened = await audit_events(env, org_id=tenant.org_id, action="document.opened")
    assert len(opened) == 20
    assert sum(1 for e in opened if e.details["first"]) == 1


async def test_single_and_batched_appends_share_one_transaction_and_one_chain(
    env: Env, tenant: Tenant
) -> None:
    at = START
    other = await make_tenant(env, "globex")
    async with env.sessions() as session, session.begin():
        first = await audit.record(
            session, org_id=tenant.org_id, actor=STAFF, action="test.first", at=at
        )
        held = await session.get(AuditHead, tenant.org_id)  # the session holds the head
        assert held is not None
        batch = [
            audit.NewEvent(org_id=org_id, actor=STAFF, action="test.batched", at=at)
            for org_id in (tenant.org_id, other.org_id, tenant.org_id)
        ]
        assert await audit.append_events(session, batch) == 3
        assert (held.org_id, held.seq) == (tenant.org_id, first.seq + 2)
        last = await audit.record(
            session, org_id=tenant.org_id, actor=STAFF, action="test.last", at=at
        )
    assert last.seq == first.seq + 3
    actions = [e.action for e in await audit_events(env, org_id=tenant.org_id)]
    assert actions[-4:] == ["test.first", "test.batched", "test.batched", "test.last"]
    for org_id in (tenant.org_id, other.org_id):
        assert (await audit.verify_chain(env, org_id=org_id)).ok


async def test_events_appended_in_one_synchronous_step_hash_as_the_others_do(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "initech")
    batch = [
        audit.NewEvent(
            org_id=org_id, actor=STAFF, action="test.now", at=START, details={"n": n, "ü": [n]}
        )
        for n, org_id in enumerate((tenant.org_id, other.org_id, tenant.org_id))
    ]
    async with env.sessions() as session, session.begin():
        appended = await session.run_sync(
            lambda sync: audit.append_events_now(sync.connection(), batch)
        )
        assert appended == 3
        assert (
            await session.run_sync(lambda sync: audit.append_events_now(sync.connection(), [])) == 0
        )
        assert await audit.append_events(session, batch[:1]) == 1  # the chain goes on from there
    ours = [e for e in await audit_events(env, org_id=tenant.org_id) if e.action == "test.now"]
    assert [e.details for e in ours] == [{"n": 0, "ü": [0]}, {"n": 2, "ü": [2]}, {"n": 0, "ü": [0]}]
    assert [e.seq for e in ours] == [ours[0].seq, ours[0].seq + 1, ours[0].seq + 2]
    for org_id in (tenant.org_id, other.org_id):
        assert (await audit.verify_chain(env, org_id=org_id)).ok


async def test_alike_events_given_by_column_hash_as_each_event_alone(
    env: Env, tenant: Tenant
) -> None:
    other = await make_tenant(env, "umbrella")
    details = [{"recipient_id": n, "recipient": f'Ż {n} "q"', "group_id": 3} for n in range(70)]
    async with env.sessions() as session, session.begin():
        first = await audit.record(
            session, org_id=tenant.org_id, actor=STAFF, action="test.first", at=START
        )
        held = await session.get(AuditHead, tenant.org_id)  # the session holds the head
        chains = await audit.lock_chains(session, [tenant.org_id, other.org_id])
        async with bulk.writing(session) as writes:
            appended = await audit.append_alike(
                session,
                audit.AlikeEvents(
                    org_id=tenant.org_id,
                    actor=STAFF,
                    action="test.alike",
                    at=START,
                    document_id=None,
                    share_ids=list(range(1000, 1070)),
                    details=details,
                ),
                chains=chains,
                writes=writes,
            )
            assert appended == 70
            # The chains go on from their new ends, in the same transaction.
            await audit.append_events(
                session,
                [audit.NewEvent(org_id=tenant.org_id, actor=STAFF, action="test.after", at=START)],
                chains=chains,
                writes=writes,
            )
        assert held is not None and held.seq == first.seq + 71
        last = await audit.record(
            session, org_id=tenant.org_id, actor=STAFF, action="test.last", at=START
        )
        with pytest.raises(NotFound, match="has no history"):
            await audit.append_alike(
                session,
                audit.AlikeEvents(other.org_id + 99, STAFF, "test.x", START, None, [1], [{}]),
                chains=chains,
                writes=bulk.Writes(session),
            )
        with pytest.raises(ValueError, match="one for each share"):
            await audit.append_alike(
                session,
                audit.AlikeEvents(tenant.org_id, STAFF, "test.x", START, None, [1, 2], [{}]),
                chains=chains,
                writes=bulk.Writes(session),
            )
    assert last.seq == first.seq + 72
    events = await audit_events(env, org_id=tenant.org_id)
    alike = [e for e in events if e.action == "test.alike"]
    assert [e.details for e in alike] == details
    assert [e.share_id for e in alike] == list(range(1000, 1070))
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
    assert (await audit.verify_chain(env, org_id=other.org_id)).ok
