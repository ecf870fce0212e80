"""Sharing with a group: what each member gets, all in one transaction or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from storage.models import Share
from tests.conftest import STAFF, START, Tenant
from tests.helpers import add_person, audit_events, count_rows, stored_notifications, upload
from workflows import audit
from workflows.context import Env
from workflows.errors import InvalidInput, NotFound
from workflows.people import groups
from workflows.sharing import sharing
from workflows.sharing.sharing import ShareTerms
from workflows.tokens import hash_token


async def _group(env: Env, tenant: Tenant, size: int) -> tuple[int, list[int]]:
    people = [tenant.recipient_id] + [
        await add_person(env, tenant, name=f"Member {n:02d}") for n in range(size - 1)
    ]
    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Members")
    assert group.id is not None
    await groups.add_to_group(
        env, org_id=tenant.org_id, actor=STAFF, group_id=group.id, recipient_ids=people
    )
    return group.id, people


async def test_each_member_gets_one_share_one_hashed_token_one_notice_and_one_event(
    env: Env, tenant: Tenant
) -> None:
    group_id, people = await _group(env, tenant, 25)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    ends = START + timedelta(days=3)
    terms = ShareTerms(expires_at=ends, message="Please read", staff_id=tenant.staff_id)

    result = await sharing.share_with_group(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        group_id=group_id,
        terms=terms,
    )

    assert result.skipped == []
    made = {r.share.recipient_id: r for r in result.shares}
    assert sorted(made) == sorted(people) and all(r.created for r in result.shares)
    tokens = [r.token for r in result.shares]
    assert all(tokens) and len(set(tokens)) == len(people)
    async with env.sessions() as session:
        stored = {
            share.id: share
            for share in (
                await session.exec(select(Share).where(Share.document_id == document.id))
            ).all()
        }
    assert len(stored) == len(people)
    for person, shared in made.items():
        row = stored[shared.share.id]
        assert shared.token is not None and row.token_hash == hash_token(shared.token)
        assert shared.token not in row.token_hash
        assert (row.recipient_id, row.group_id, row.kind) == (person, group_id, "recipient")
        assert (row.message, row.expires_at, row.created_by_staff_id) == (
            "Please read",
            ends,
            tenant.staff_id,
        )
        assert (row.org_id, row.created_at, row.revoked_at) == (tenant.org_id, START, None)
        assert (shared.share.message, shared.share.expires_at) == ("Please read", ends)
        assert (shared.share.document_id, shared.share.group_id) == (document.id, group_id)
        assert (shared.share.max_downloads, shared.share.notify_unused_expiry) == (None, False)

    notices = await stored_notifications(env, kind="document.shared")
    assert sorted((n.target, n.payload["share_id"]) for n in notices) == sorted(
        (str(person), shared.share.id) for person, shared in made.items()
    )
    assert all(
        n.payload == {"share_id": n.payload["share_id"], "document_id": document.id}
        for n in notices
    )
    assert all(
        n.dedupe_key == f"share:{n.payload['share_id']}:recipient:{n.target}" for n in notices
    )
    assert {n.status for n in notices} == {"pending"}

    events = await audit_events(env, org_id=tenant.org_id, action="document.shared")
    assert sorted(e.share_id for e in events if e.share_id) == sorted(stored)
    by_share = {e.share_id: e for e in events}
    for person, shared in made.items():
        details = by_share[shared.share.id].details
        assert details["recipient_id"] == person and details["group_id"] == group_id
        assert details["expires_at"] == ends.isoformat()
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok


async def test_a_group_share_that_fails_at_its_last_step_leaves_nothing(
    env: Env, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    group_id, _ = await _group(env, tenant, 12)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    events_before = len(await audit_events(env, org_id=tenant.org_id))

    class Broken(Exception):
        pass

    async def broken(*_: object, **__: object) -> int:
        raise Broken

    monkeypatch.setattr(sharing.cabinet, "tell_of_share", broken)
    with pytest.raises(Broken):
        await sharing.share_with_group(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
        )

    assert await count_rows(env, Share) == 0
    assert await stored_notifications(env, kind="document.shared") == []
    assert len(await audit_events(env, org_id=tenant.org_id)) == events_before
    assert (await audit.verify_chain(env, org_id=tenant.org_id)).ok
    monkeypatch.undo()
    again = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
    )
    assert len(again.shares) == 12 and all(r.created for r in again.shares)


async def test_a_group_share_on_bad_terms_or_an_unknown_group_changes_nothing(
    env: Env, tenant: Tenant
) -> None:
    group_id, _ = await _group(env, tenant, 3)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    events_before = len(await audit_events(env, org_id=tenant.org_id))
    refusals = [
        (InvalidInput, group_id, ShareTerms(expires_at=START - timedelta(minutes=1))),
        (InvalidInput, group_id, ShareTerms(expires_at=START.replace(tzinfo=None))),
        (InvalidInput, group_id, ShareTerms(message="x" * 2001)),
        (NotFound, group_id + 1000, None),
    ]
    for error, group, terms in refusals:
        with pytest.raises(error):
            await sharing.share_with_group(
                env,
                org_id=tenant.org_id,
                actor=STAFF,
                document_id=document.id,
                group_id=group,
                terms=terms,
            )
    async with env.sessions() as session:
        assert (await session.exec(select(Share).where(col(Share.id) > 0))).all() == []
    assert await stored_notifications(env, kind="document.shared") == []
    assert len(await audit_events(env, org_id=tenant.org_id)) == events_before
