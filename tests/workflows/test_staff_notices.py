"""Staff notices in the outbox: first opens and downloads, returns, deliveries given up,
where each goes, and the overview staff see in Slack."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Notification, Organization, StaffUser
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import add_person, chunks, upload
from workflows import outbox, overview
from workflows.context import Env, FixedClock
from workflows.errors import InvalidInput, NotFound
from workflows.outbox import claims
from workflows.people import linking, spaces
from workflows.people.linking import ChatIdentity
from workflows.sharing import access, inbox, links, sharing, staff_notices
from workflows.sharing.access import AccessRecorder, Visitor
from workflows.sharing.sharing import ShareTerms

VISITOR = Visitor(ip="198.51.100.7", user_agent="Phone/1.0")


async def _notices(env: Env) -> list[Notification]:
    async with env.sessions() as session:
        query = select(Notification).where(Notification.channel == "slack")
        return list((await session.exec(query.order_by(Notification.id))).all())


async def _shared(env: Env, tenant: Tenant, *, title: str = "Fee table 2027") -> tuple[int, str]:
    """A document shared by Stella with Rita: (document id, Rita's token)."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    assert document.id is not None
    result = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    assert result.token is not None
    return document.id, result.token


async def test_a_first_open_tells_the_sharer_once(env: Env, tenant: Tenant) -> None:
    document_id, token = await _shared(env, tenant)

    await access.open_shared(env, token, VISITOR)
    await access.open_shared(env, token, VISITOR)

    [notice] = await _notices(env)
    assert (notice.kind, notice.target, notice.status) == (
        "document.opened",
        f"staff:{tenant.staff_id}",
        "pending",
    )
    assert notice.payload["document_id"] == document_id
    assert notice.payload["recipient_id"] == tenant.recipient_id


async def test_opens_recorded_in_one_batch_tell_once_per_recipient(
    env: Env, tenant: Tenant
) -> None:
    _, token = await _shared(env, tenant)
    recorder = AccessRecorder(env)
    await recorder.start()
    try:
        for _ in range(3):
            await access.open_shared(env, token, VISITOR, recorder=recorder)
        await access.start_download(env, token, VISITOR, recorder=recorder)
        await access.start_download(env, token, VISITOR, recorder=recorder)
    finally:
        await recorder.stop()

    assert [n.kind for n in await _notices(env)] == ["document.opened", "document.downloaded"]


async def test_visits_after_the_first_write_nothing_to_the_outbox(
    env: Env, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)
    await access.start_download(env, token, VISITOR)
    written: list[int] = []
    enqueue = outbox.enqueue_many

    async def counting(session: object, notifications: list[object], **kw: object) -> int:
        written.append(len(notifications))
        return await enqueue(session, notifications, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "enqueue_many", counting)
    recorder = AccessRecorder(env)
    await recorder.start()
    try:
        await access.open_shared(env, token, VISITOR)
        await access.open_shared(env, token, VISITOR, recorder=recorder)
        await access.start_download(env, token, VISITOR, recorder=recorder)
    finally:
        await recorder.stop()

    assert sum(written) == 0


async def test_a_first_download_tells_the_sharer_once(env: Env, tenant: Tenant) -> None:
    _, token = await _shared(env, tenant)

    await access.start_download(env, token, VISITOR)
    await access.start_download(env, token, VISITOR)

    assert [n.kind for n in await _notices(env)] == ["document.downloaded"]


async def test_a_download_in_telegram_tells_the_sharer(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    share = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    await linking.redeem_invite(env, code=invite.code, chat=ChatIdentity(chat_id=77))
    assert share.share.id is not None

    await inbox.record_chat_download(env, chat_id=77, share_id=share.share.id)
    await inbox.record_chat_download(env, chat_id=77, share_id=share.share.id)

    [notice] = await _notices(env)
    assert (notice.kind, notice.payload["recipient_id"]) == (
        "document.downloaded",
        tenant.recipient_id,
    )


async def test_a_link_tells_of_its_first_open_once_and_has_no_recipient(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    link = await links.create_link(env, org_id=tenant.org_id, actor=STAFF, document_id=document.id)
    assert link.token is not None

    for _ in range(3):
        await access.open_shared(env, link.token, VISITOR)

    [notice] = await _notices(env)
    assert (notice.kind, notice.target, notice.payload["recipient_id"]) == (
        "document.opened",
        "org",
        None,
    )


async def test_each_member_of_a_space_is_told_of_separately(env: Env, tenant: Tenant) -> None:
    carl = await add_person(env, tenant, name="Carl Colleague")
    space = await spaces.create_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Board",
        member_ids=[tenant.recipient_id, carl],
        client_id=tenant.client_id,
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        space_id=space.id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    share_id = shared.share.share.id
    assert share_id is not None

    for person in (tenant.recipient_id, carl, carl):
        token = await inbox.personal_link(env, share_id=share_id, recipient_id=person)
        await access.open_shared(env, token, VISITOR)

    told = sorted(n.payload["recipient_id"] for n in await _notices(env))
    assert told == sorted([tenant.recipient_id, carl])


async def test_a_returned_document_tells_whoever_shared_last(env: Env, tenant: Tenant) -> None:
    await _shared(env, tenant)
    invite = await linking.create_invite(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id
    )
    await linking.redeem_invite(env, code=invite.code, chat=ChatIdentity(chat_id=78))

    returned = await inbox.return_document(
        env,
        chat_id=78,
        recipient_id=tenant.recipient_id,
        filename="signed.pdf",
        content=chunks(make_pdf("Signed", pages=1)),
    )

    [notice] = [n for n in await _notices(env) if n.kind == "document.returned"]
    assert notice.target == f"staff:{tenant.staff_id}"
    assert notice.payload == {"document_id": returned.id, "recipient_id": tenant.recipient_id}


async def test_a_delivery_given_up_tells_the_sharer_in_the_same_step(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    document_id, _ = await _shared(env, tenant)
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])

    assert await claims.mark_failed(env, row, worker="w", error="Bad Gateway") == "pending"
    assert await _notices(env) == []
    clock.at += timedelta(hours=1)
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])
    status = await claims.mark_failed(env, row, worker="w", error="Bad Gateway", permanent=True)

    assert status == "dead"

    [notice] = await _notices(env)
    assert (notice.kind, notice.target) == ("delivery.failed", f"staff:{tenant.staff_id}")
    assert notice.payload["notification_id"] == row.id
    assert notice.payload["document_id"] == document_id
    assert notice.payload["recipient_id"] == tenant.recipient_id
    assert notice.payload["error"] == "Bad Gateway"


async def test_a_staff_notice_given_up_is_not_told_of_again(env: Env, tenant: Tenant) -> None:
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)
    [row] = await claims.claim_due(env, worker="w", channels=["slack"])

    await claims.mark_failed(env, row, worker="w", error="channel_not_found", permanent=True)

    assert [(n.kind, n.status) for n in await _notices(env)] == [("document.opened", "dead")]


async def test_a_lost_lease_tells_nobody(env: Env, tenant: Tenant, clock: FixedClock) -> None:
    await _shared(env, tenant)
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])
    clock.at += timedelta(minutes=5)
    await claims.claim_due(env, worker="other", channels=["recipient"])

    await claims.mark_failed(env, row, worker="w", error="boom", permanent=True)

    assert await _notices(env) == []


# -- where notices go ----------------------------------------------------------------------


async def _staff_with_slack(env: Env, tenant: Tenant) -> None:
    async with env.sessions() as session, session.begin():
        stella = await session.get(StaffUser, tenant.staff_id)
        assert stella is not None
        stella.slack_user_id = "U0STELLA"
        session.add(stella)


async def test_notices_go_to_the_sharer_unless_the_organisation_has_a_channel(
    env: Env, tenant: Tenant
) -> None:
    await _staff_with_slack(env, tenant)
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)
    rows = await _notices(env)

    [direct] = await staff_notices.prepare(env, rows)
    await staff_notices.set_notice_channel(
        env, org_id=tenant.org_id, actor=STAFF, channel=" C0NOTICES "
    )
    [channelled] = await staff_notices.prepare(env, rows)

    assert direct.destination == staff_notices.Destination("U0STELLA", is_channel=False)
    assert direct.person == "Rita Recipient"
    assert direct.document is not None and direct.document.title == "Fee table 2027"
    assert channelled.destination == staff_notices.Destination("C0NOTICES", is_channel=True)


async def test_a_notice_with_nowhere_to_go_says_why(env: Env, tenant: Tenant) -> None:
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)

    [notice] = await staff_notices.prepare(env, await _notices(env))

    assert notice.destination is None
    assert notice.reason == "Stella Staff has no Slack user and the organisation has no channel"


async def test_setting_a_channel_wakes_notices_that_were_waiting(env: Env, tenant: Tenant) -> None:
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)
    [row] = await claims.claim_due(env, worker="w", channels=["slack"])
    await claims.mark_waiting(env, row.id or 0, worker="w", reason="nowhere")

    await staff_notices.set_notice_channel(
        env, org_id=tenant.org_id, actor=STAFF, channel="C0NOTICES"
    )

    assert [n.status for n in await _notices(env)] == ["pending"]


@pytest.mark.parametrize("bad", ["general", "GENERAL", "#general", "U0STELLA", "c0notices"])
async def test_a_bad_channel_id_is_refused_and_changes_nothing(
    env: Env, tenant: Tenant, bad: str
) -> None:
    with pytest.raises(InvalidInput, match="is not a Slack channel id"):
        await staff_notices.set_notice_channel(env, org_id=tenant.org_id, actor=STAFF, channel=bad)

    async with env.sessions() as session:
        org = await session.get(Organization, tenant.org_id)
    assert org is not None and org.slack_channel is None


async def test_an_empty_channel_sends_notices_to_each_sharer_again(
    env: Env, tenant: Tenant
) -> None:
    await staff_notices.set_notice_channel(
        env, org_id=tenant.org_id, actor=STAFF, channel="C0NOTICES"
    )

    org = await staff_notices.set_notice_channel(env, org_id=tenant.org_id, actor=STAFF, channel="")

    assert org.slack_channel is None


# -- the overview ----------------------------------------------------------------------------


async def test_the_overview_counts_who_has_not_opened_yet(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    carl = await add_person(env, tenant, name="Carl Colleague")
    space = await spaces.create_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Board",
        member_ids=[tenant.recipient_id, carl],
        client_id=tenant.client_id,
    )
    board = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Minutes")
    shared = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=board.id, space_id=space.id
    )
    clock.at += timedelta(minutes=1)
    fee_id, token = await _shared(env, tenant)
    clock.at += timedelta(minutes=1)
    opened_id, opened_token = await _shared(env, tenant, title="Opened by all")
    await access.open_shared(env, opened_token, VISITOR)
    share_id = shared.share.share.id
    assert share_id is not None
    carl_token = await inbox.personal_link(env, share_id=share_id, recipient_id=carl)
    await access.start_download(env, carl_token, VISITOR)

    found = await overview.overview(env, org_id=tenant.org_id)

    assert [(u.document.title, u.opened, u.recipients) for u in found.unopened] == [
        ("Fee table 2027", 0, 1),
        ("Minutes", 1, 2),
    ]
    assert found.unopened_total == 2
    assert [(v.who, v.action, v.document.title) for v in found.recent] == [
        ("Carl Colleague", "document.downloaded", "Minutes"),
        ("Rita Recipient", "document.opened", "Opened by all"),
    ]
    assert fee_id != opened_id and token


async def test_a_revoked_share_no_longer_waits(env: Env, tenant: Tenant) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    shared = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )
    assert shared.share.id is not None

    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=shared.share.id)

    assert (await overview.overview(env, org_id=tenant.org_id)).unopened == []


async def test_the_overview_shows_one_organisation_only(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "other")
    _, token = await _shared(env, other, title="Their secret")
    await access.open_shared(env, token, VISITOR)
    await _shared(env, other, title="Their unopened")
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"], limit=1)
    await claims.mark_failed(env, row, worker="w", error="boom", permanent=True)

    mine = await overview.overview(env, org_id=tenant.org_id)
    theirs = await overview.overview(env, org_id=other.org_id)

    assert (mine.unopened, mine.recent, mine.failed) == ([], [], [])
    assert [u.document.title for u in theirs.unopened] == ["Their unopened"]
    assert [f.to for f in theirs.failed] == ["Rita Recipient"]
    with pytest.raises(NotFound):
        await overview.retry_failed(
            env, org_id=tenant.org_id, ids=[theirs.failed[0].notification_id]
        )


async def test_a_failed_delivery_is_retried_once(env: Env, tenant: Tenant) -> None:
    document_id, _ = await _shared(env, tenant)
    [row] = await claims.claim_due(env, worker="w", channels=["recipient"])
    await claims.mark_failed(
        env, row, worker="w", error="Forbidden: bot was blocked", permanent=True
    )
    [failed] = (await overview.overview(env, org_id=tenant.org_id)).failed
    assert (failed.kind, failed.to, failed.error) == (
        "document.shared",
        "Rita Recipient",
        "Forbidden: bot was blocked",
    )
    assert failed.document is not None and failed.document.id == document_id

    assert await overview.retry_failed(env, org_id=tenant.org_id, ids=[failed.notification_id]) == 1
    with pytest.raises(NotFound, match="retried already"):
        await overview.retry_failed(env, org_id=tenant.org_id, ids=[failed.notification_id])
    assert (await overview.overview(env, org_id=tenant.org_id)).failed == []


async def test_staff_of_an_organisation_without_slack_are_named_in_failed_notices(
    env: Env, tenant: Tenant
) -> None:
    _, token = await _shared(env, tenant)
    await access.open_shared(env, token, VISITOR)
    [row] = await claims.claim_due(env, worker="w", channels=["slack"])
    await claims.mark_failed(env, row, worker="w", error="not_in_channel", permanent=True)

    [failed] = (await overview.overview(env, org_id=tenant.org_id)).failed

    assert (failed.kind, failed.to) == ("document.opened", "Stella Staff on Slack")
