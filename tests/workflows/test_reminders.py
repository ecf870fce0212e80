"""The periodic scans at frozen moments: each reminder and expiry at its boundary, one
second either side, in quiet hours and across daylight-saving changes; repeated and
concurrent scans queue each notice once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.blobs import FileBlobStore
from storage.db import make_engine, make_session_factory
from storage.models import Notification, Organization, Party, SignatureRequest
from tests.conftest import STAFF, START, Tenant
from tests.helpers import stored_notifications, upload
from workflows import platform, quiet_hours, scans
from workflows.context import Actor, Env, FixedClock
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotAvailableNow, NotFound
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients, spaces
from workflows.sharing import access, availability, inbox, links, notices, sharing, staff_notices
from workflows.signing import (
    creation,
    deciding,
    identity,
    party_notices,
    party_page,
    party_reminders,
    requests,
)
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision

SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
WEB = Actor(type="party", label="page", ip="203.0.113.9", user_agent="Firefox")


async def _set_org(env: Env, org_id: int, **values: object) -> None:
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, org_id)
        assert org is not None
        for name, value in values.items():
            setattr(org, name, value)
        session.add(org)


async def _document(env: Env, tenant: Tenant, *, until: datetime | None, title: str = "Fee") -> int:
    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, title=title, available_until=until
    )
    assert document.id is not None
    return document.id


async def _share(
    env: Env, tenant: Tenant, document_id: int, recipient_id: int
) -> sharing.ShareResult:
    return await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document_id,
        recipient_id=recipient_id,
        terms=sharing.ShareTerms(staff_id=tenant.staff_id),
    )


async def _recipient(env: Env, tenant: Tenant, name: str, **extra: object) -> int:
    person = await recipients.add_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        client_id=tenant.client_id,
        name=name,
        email=f"{name.lower()}@client.test",
        **extra,  # type: ignore[arg-type]
    )
    assert person.id is not None
    return person.id


# -- availability ending ------------------------------------------------------------------


async def test_an_unopened_document_is_reminded_exactly_three_days_before_it_ends(
    env: Env, tenant: Tenant
) -> None:
    until = START + 5 * DAY
    doc = await _document(env, tenant, until=until)
    shared = await _share(env, tenant, doc, tenant.recipient_id)
    boundary = until - 3 * DAY

    assert await availability.scan_availability(env, at=boundary - SECOND) == (0, 0)
    assert await availability.scan_availability(env, at=boundary) == (1, 1)
    assert await availability.scan_availability(env, at=boundary + SECOND) == (0, 0)
    assert await availability.scan_availability(env, at=until - SECOND) == (0, 0)

    [reminder] = await stored_notifications(env, kind=Kind.AVAILABILITY_ENDING)
    assert (reminder.channel, reminder.target) == ("recipient", str(tenant.recipient_id))
    assert reminder.payload == {
        "share_id": shared.share.id,
        "document_id": doc,
        "available_until": until.isoformat(),
    }
    assert reminder.next_attempt_at == boundary  # 12:00 UTC is not quiet
    [told] = await stored_notifications(env, kind=Kind.DOCUMENT_UNOPENED)
    assert (told.channel, told.target) == ("slack", f"staff:{tenant.staff_id}")
    assert told.payload["recipient_ids"] == [tenant.recipient_id]


async def test_nothing_is_reminded_once_the_document_has_ended(env: Env, tenant: Tenant) -> None:
    until = START + 2 * DAY
    doc = await _document(env, tenant, until=until)
    await _share(env, tenant, doc, tenant.recipient_id)
    assert await availability.scan_availability(env, at=until) == (0, 0)
    assert await availability.scan_availability(env, at=until + SECOND) == (0, 0)


async def test_a_recipient_who_opened_or_downloaded_is_not_reminded(
    env: Env, tenant: Tenant
) -> None:
    other = await _recipient(env, tenant, "Olaf")
    until = START + 2 * DAY
    doc = await _document(env, tenant, until=until)
    opened = await _share(env, tenant, doc, tenant.recipient_id)
    await _share(env, tenant, doc, other)
    assert opened.token is not None
    await access.open_shared(env, opened.token, access.Visitor())

    assert await availability.scan_availability(env, at=START) == (1, 1)
    [reminder] = await stored_notifications(env, kind=Kind.AVAILABILITY_ENDING)
    assert reminder.target == str(other)
    [told] = await stored_notifications(env, kind=Kind.DOCUMENT_UNOPENED)
    assert told.payload["recipient_ids"] == [other]
    [notice] = await staff_notices.prepare(env, [told])
    assert notice.people == ("Olaf",)


async def test_space_members_are_reminded_one_by_one(env: Env, tenant: Tenant) -> None:
    other = await _recipient(env, tenant, "Olaf")
    space = await spaces.create_space(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Board",
        member_ids=[tenant.recipient_id, other],
        client_id=tenant.client_id,
    )
    assert space.id is not None
    doc = await _document(env, tenant, until=START + DAY)
    spaced = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=doc, space_id=space.id
    )
    share_id = spaced.share.share.id
    assert share_id is not None
    token = await inbox.personal_link(env, share_id=share_id, recipient_id=other)
    await access.start_download(env, token, access.Visitor())

    assert await availability.scan_availability(env, at=START) == (1, 1)
    [reminder] = await stored_notifications(env, kind=Kind.AVAILABILITY_ENDING)
    assert reminder.target == str(tenant.recipient_id)
    [told] = await stored_notifications(env, kind=Kind.DOCUMENT_UNOPENED)
    assert told.target == "org"  # nobody in particular shared it


async def test_the_reminder_period_is_the_organisations(env: Env, tenant: Tenant) -> None:
    until = START + 5 * DAY
    doc = await _document(env, tenant, until=until)
    await _share(env, tenant, doc, tenant.recipient_id)
    await _set_org(env, tenant.org_id, remind_days_before=0)
    assert await availability.scan_availability(env, at=until - SECOND) == (0, 0)
    await scans.set_reminder_settings(env, org_id=tenant.org_id, actor=STAFF, remind_days_before=5)
    assert await availability.scan_availability(env, at=until - 5 * DAY - SECOND) == (0, 0)
    assert await availability.scan_availability(env, at=until - 5 * DAY) == (1, 1)


async def test_a_reminder_to_someone_who_opened_meanwhile_is_cancelled(
    env: Env, tenant: Tenant
) -> None:
    doc = await _document(env, tenant, until=START + DAY)
    shared = await _share(env, tenant, doc, tenant.recipient_id)
    await availability.scan_availability(env, at=START)
    [reminder] = await stored_notifications(env, kind=Kind.AVAILABILITY_ENDING)
    route = await notices.route_share_notice(env, reminder)
    assert route.way == "email" and route.notice is not None
    assert route.notice.kind == Kind.AVAILABILITY_ENDING

    assert shared.token is not None
    await access.open_shared(env, shared.token, access.Visitor())
    route = await notices.route_share_notice(env, reminder)
    assert route.way == "cancel"
    assert route.reason == "the recipient has opened the document meanwhile"


# -- signature reminders ------------------------------------------------------------------


async def _request(
    env: Env, tenant: Tenant, parties: list[NewParty], *, order: str = "parallel", **extra: object
) -> creation.CreatedRequest:
    doc = await _document(env, tenant, until=None, title="Contract")
    return await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=[doc], parties=parties, order=order, **extra),  # type: ignore[arg-type]
    )


async def _decide(env: Env, token: str, kind: str) -> None:
    """Decide as the party does on their page: confirm the code sent to them, then decide."""
    page = await party_page.open_page(env, token)
    browser = None
    if page.code_channel is not None:
        await identity.send_code(env, token)
        code = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
        browser = (await identity.confirm_code(env, token, code)).token
    decision = Decision(kind=kind, typed_name="Typed Name", consent=True, needs_review=False)
    await deciding.decide(env, token, decision, actor=WEB, browser=browser)


async def _party(env: Env, party_id: int | None) -> Party:
    async with env.reads() as session:
        party = await session.get(Party, party_id)
    assert party is not None
    return party


async def test_parties_are_reminded_every_two_days_at_most_three_times(
    env: Env, tenant: Tenant
) -> None:
    created = await _request(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    party = created.parties[0].party
    for n in (1, 2, 3):
        due = START + 2 * n * DAY
        assert await party_reminders.scan(env, at=due - SECOND) == 0
        assert await party_reminders.scan(env, at=due) == 1
        assert await party_reminders.scan(env, at=due + SECOND) == 0
    assert await party_reminders.scan(env, at=START + 30 * DAY) == 0
    rows = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    assert [r.dedupe_key for r in rows] == [f"remind:{party.id}:{n}" for n in (1, 2, 3)]
    assert all(r.channel == "recipient" and r.target == str(tenant.recipient_id) for r in rows)
    assert (await _party(env, party.id)).next_reminder_at is None


async def test_after_a_long_stop_one_reminder_goes_not_a_burst(env: Env, tenant: Tenant) -> None:
    created = await _request(env, tenant, [NewParty(role="approver", name="Ann", email="a@x.test")])
    party = created.parties[0].party
    late = START + 5 * DAY
    assert await party_reminders.scan(env, at=late) == 1
    [row] = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    assert (row.channel, row.target, row.dedupe_key) == (
        "party",
        str(party.id),
        f"remind:{party.id}:1",
    )
    assert (await _party(env, party.id)).next_reminder_at == late + 2 * DAY


async def test_decided_viewers_and_link_only_parties_get_no_reminder(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(
        env,
        tenant,
        [
            NewParty(role="signer", name="Sam", email="sam@x.test"),
            NewParty(role="viewer", name="Vic", email="vic@x.test"),
            NewParty(role="signer", name="Phil", phone="+46 70 123 45 67"),
        ],
    )
    sam = created.parties[0]
    await _decide(env, sam.token, "sign")
    assert await party_reminders.scan(env, at=START + 2 * DAY) == 0
    assert await stored_notifications(env, kind=Kind.SIGN_REMINDER) == []
    for link in created.parties:
        assert (await _party(env, link.party.id)).next_reminder_at is None


async def test_a_reminder_to_a_party_who_decided_meanwhile_is_not_sent(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(
        env,
        tenant,
        [
            NewParty(role="signer", name="Sam", email="sam@x.test"),
            NewParty(role="signer", name="Tess", email="tess@x.test"),
        ],
    )
    clock.at = START + 2 * DAY
    await party_reminders.scan(env, at=clock.at)
    row, _ = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    route = await party_notices.route_sign_notice(env, row)
    assert route.way == "email" and route.notice is not None and route.notice.needs_link

    await _decide(env, created.parties[0].token, "sign")
    route = await party_notices.route_sign_notice(env, row)
    assert (route.way, route.reason) == ("cancel", "Sam has decided meanwhile")


async def test_a_reminder_for_a_cancelled_request_is_not_sent(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(env, tenant, [NewParty(role="signer", name="Sam", email="sam@x.test")])
    await party_reminders.scan(env, at=START + 2 * DAY)
    [row] = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref)
    route = await party_notices.route_sign_notice(env, row)
    assert route.way == "cancel"
    assert route.reason == "the request is cancelled; the reminder is no longer needed"


async def test_sequential_parties_are_reminded_from_their_own_turn(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(
        env,
        tenant,
        [
            NewParty(role="approver", name="Ann", email="ann@x.test"),
            NewParty(role="signer", name="Sam", email="sam@x.test"),
        ],
        order="sequential",
    )
    clock.at = START + DAY
    await _decide(env, created.parties[0].token, "approve")
    assert await party_reminders.scan(env, at=START + 2 * DAY) == 0
    assert await party_reminders.scan(env, at=START + 3 * DAY) == 1
    [row] = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    assert row.target == str(created.parties[1].party.id)


async def test_reminders_in_quiet_hours_wait_for_nine_oclock(env: Env, tenant: Tenant) -> None:
    await _set_org(env, tenant.org_id, timezone="Europe/Warsaw")
    await _request(env, tenant, [NewParty(role="signer", name="Sam", email="sam@x.test")])
    evening = datetime(2026, 11, 25, 19, 0, tzinfo=UTC)  # 20:00 in Warsaw
    assert await party_reminders.scan(env, at=evening) == 1
    [row] = await stored_notifications(env, kind=Kind.SIGN_REMINDER)
    assert row.created_at == evening
    assert row.next_attempt_at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


# -- "Remind now" -------------------------------------------------------------------------


async def test_staff_may_remind_a_party_once_an_hour(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(env, tenant, [NewParty(role="signer", name="Sam", email="sam@x.test")])
    ref = created.request.ref
    clock.at = START + 3 * 3600 * SECOND
    [done] = await party_reminders.remind_now(
        env, org_id=tenant.org_id, actor=STAFF, ref=ref, position=1
    )
    assert done.send_at == clock.at and done.party.name == "Sam"
    clock.at += timedelta(minutes=59, seconds=59)
    with pytest.raises(Conflict, match="Sam was reminded 59 min ago; remind them again from 16:00"):
        await party_reminders.remind_now(
            env, org_id=tenant.org_id, actor=STAFF, ref=ref, position=1
        )
    clock.at += SECOND
    await party_reminders.remind_now(env, org_id=tenant.org_id, actor=STAFF, ref=ref)
    assert len(await stored_notifications(env, kind=Kind.SIGN_REMINDER)) == 2
    # the scheduled cadence starts again from the last reminder
    party = await _party(env, created.parties[0].party.id)
    assert party.next_reminder_at == clock.at + 2 * DAY


async def test_remind_now_refuses_what_cannot_be_reminded(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(
        env,
        tenant,
        [
            NewParty(role="signer", name="Sam", email="sam@x.test"),
            NewParty(role="signer", name="Phil", phone="+46 70 123 45 67"),
            NewParty(role="viewer", name="Vic", email="vic@x.test"),
            NewParty(role="signer", name="Tess", email="tess@x.test"),
        ],
        order="sequential",
    )
    ref = created.request.ref

    async def remind(position: int | None, *, ref: str = ref) -> object:
        return await party_reminders.remind_now(
            env, org_id=tenant.org_id, actor=STAFF, ref=ref, position=position
        )

    with pytest.raises(Conflict, match="Vic only receives the documents"):
        await remind(3)
    with pytest.raises(Conflict, match="it is not Tess's turn yet"):
        await remind(4)
    with pytest.raises(NotFound, match=f"{ref} has no party 9"):
        await remind(9)
    with pytest.raises(NotFound, match="request S-99 not found"):
        await remind(1, ref="S-99")
    with pytest.raises(InvalidInput, match="not a request reference"):
        await remind(1, ref="D-1")
    await _decide(env, created.parties[0].token, "sign")
    with pytest.raises(Conflict, match="Sam has already signed"):
        await remind(1)
    with pytest.raises(Conflict, match="Phil can only be reached through their link"):
        await remind(None)
    assert await stored_notifications(env, kind=Kind.SIGN_REMINDER) == []
    await requests.cancel_request(env, org_id=tenant.org_id, actor=STAFF, ref=ref)
    with pytest.raises(Conflict, match="is cancelled; only a pending request"):
        await remind(None)


async def test_remind_now_keeps_to_other_tenants(env: Env, tenant: Tenant) -> None:
    created = await _request(env, tenant, [NewParty(role="signer", name="Sam", email="s@x.test")])
    other = await organizations.create_organization(env, slug="other", name="Other", actor=STAFF)
    assert other.id is not None
    with pytest.raises(NotFound):
        await party_reminders.remind_now(env, org_id=other.id, actor=STAFF, ref=created.request.ref)


async def test_remind_now_in_quiet_hours_is_queued_for_the_morning(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    created = await _request(env, tenant, [NewParty(role="signer", name="Sam", email="s@x.test")])
    clock.at = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    [done] = await party_reminders.remind_now(
        env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref
    )
    assert done.send_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    with pytest.raises(Conflict, match="Sam will be reminded at 2026-11-24 09:00 UTC"):
        await party_reminders.remind_now(
            env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref
        )


# -- request expiry -----------------------------------------------------------------------


async def test_a_request_expires_at_its_moment_and_everyone_is_told(
    env: Env, tenant: Tenant
) -> None:
    ends = START + DAY
    created = await _request(
        env,
        tenant,
        [NewParty(role="signer", recipient_id=tenant.recipient_id)],
        expires_at=ends,
    )
    report = await scans.run_all(env, at=ends - SECOND)
    assert report.expired == []
    report = await scans.run_all(env, at=ends)
    assert report.expired == [created.request.ref]
    assert (await scans.run_all(env, at=ends + SECOND)).expired == []
    async with env.reads() as session:
        request = await session.get(SignatureRequest, created.request.id)
    assert request is not None and request.status == requests.EXPIRED
    kinds = {(r.channel, r.kind) for r in await stored_notifications(env)}
    assert ("recipient", Kind.SIGN_ENDED) in kinds
    assert ("slack", Kind.SIGN_STATUS) in kinds


async def test_no_reminder_is_queued_for_an_expired_request(env: Env, tenant: Tenant) -> None:
    ends = START + 2 * DAY
    created = await _request(
        env, tenant, [NewParty(role="signer", name="Sam", email="s@x.test")], expires_at=ends
    )
    report = await scans.run_all(env, at=ends)
    assert report.sign == 0 and report.expired == [created.request.ref]
    assert (await _party(env, created.parties[0].party.id)).next_reminder_at is None


# -- links expiring unused ----------------------------------------------------------------


async def _link(
    env: Env, tenant: Tenant, ends: datetime, *, notify: bool = True
) -> sharing.ShareResult:
    doc = await _document(env, tenant, until=None)
    return await links.create_link(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=doc,
        terms=sharing.ShareTerms(expires_at=ends, staff_id=tenant.staff_id),
        notify_unused=notify,
    )


async def test_staff_are_told_when_a_link_expires_unused(env: Env, tenant: Tenant) -> None:
    ends = START + DAY
    link = await _link(env, tenant, ends)
    await _link(env, tenant, ends, notify=False)
    assert await scans.scan_unused_links(env, at=ends - SECOND) == 0
    assert await scans.scan_unused_links(env, at=ends) == 1
    assert await scans.scan_unused_links(env, at=ends + SECOND) == 0
    [row] = await stored_notifications(env, kind=Kind.LINK_UNUSED)
    assert row.target == f"staff:{tenant.staff_id}"
    assert row.payload["share_id"] == link.share.id


async def test_a_used_link_expires_without_a_word(env: Env, tenant: Tenant) -> None:
    ends = START + DAY
    link = await _link(env, tenant, ends)
    assert link.token is not None
    await access.open_shared(env, link.token, access.Visitor())
    assert await scans.scan_unused_links(env, at=ends) == 0


async def test_a_link_that_never_expires_cannot_ask_to_be_told(env: Env, tenant: Tenant) -> None:
    doc = await _document(env, tenant, until=None)
    with pytest.raises(InvalidInput, match="a link that never expires cannot expire unused"):
        await links.create_link(
            env, org_id=tenant.org_id, actor=STAFF, document_id=doc, notify_unused=True
        )


# -- recipients' access ending ------------------------------------------------------------


async def test_recipients_and_staff_are_told_three_days_before_access_ends(
    env: Env, tenant: Tenant
) -> None:
    ends = START + 5 * DAY
    person = await _recipient(env, tenant, "Olaf", access_expires_at=ends)
    boundary = ends - 3 * DAY
    assert await scans.scan_access_ending(env, at=boundary - SECOND) == (0, 0)
    assert await scans.scan_access_ending(env, at=boundary) == (1, 1)
    assert await scans.scan_access_ending(env, at=boundary + SECOND) == (0, 0)
    assert await scans.scan_access_ending(env, at=ends) == (0, 0)
    [mine] = await stored_notifications(env, kind=Kind.ACCESS_ENDING)
    assert (mine.channel, mine.target) == ("recipient", str(person))
    [staff] = await stored_notifications(env, kind=Kind.RECIPIENT_ACCESS_ENDING)
    assert (staff.channel, staff.target) == ("slack", "org")
    [notice] = await staff_notices.prepare(env, [staff])
    assert notice.person == "Olaf"
    route = await notices.route_access_notice(env, mine)
    assert route.way == "email" and route.notice is not None
    assert route.notice.expires_at == ends


async def test_an_access_notice_is_dropped_when_the_access_was_extended(
    env: Env, tenant: Tenant
) -> None:
    ends = START + 2 * DAY
    person = await _recipient(env, tenant, "Olaf", access_expires_at=ends)
    await scans.scan_access_ending(env, at=START)
    [mine] = await stored_notifications(env, kind=Kind.ACCESS_ENDING)
    await recipients.edit_recipient(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=person, access_expires_at=None
    )
    route = await notices.route_access_notice(env, mine)
    assert (route.way, route.reason) == ("cancel", "the recipient's access was changed meanwhile")


async def test_at_the_moment_access_ends_nothing_opens_any_more(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    ends = START + DAY
    person = await _recipient(env, tenant, "Olaf", access_expires_at=ends)
    doc = await _document(env, tenant, until=None)
    shared = await _share(env, tenant, doc, person)
    assert shared.token is not None
    clock.at = ends - SECOND
    await access.open_shared(env, shared.token, access.Visitor())
    clock.at = ends
    with pytest.raises(NotAllowed, match="access to this organisation's documents has ended"):
        await access.open_shared(env, shared.token, access.Visitor())
    clock.at = ends + SECOND
    with pytest.raises(NotAllowed):
        await access.start_download(env, shared.token, access.Visitor())


# -- deliveries given up ------------------------------------------------------------------


async def _dead(env: Env, org_id: int, key: str) -> None:
    async with env.sessions() as session, session.begin():
        session.add(
            Notification(
                org_id=org_id,
                channel="recipient",
                target="1",
                kind="document.shared",
                payload={},
                dedupe_key=key,
                status="dead",
                next_attempt_at=START,
                created_at=START,
            )
        )


async def test_a_daily_summary_of_dead_deliveries_from_nine_oclock(
    env: Env, tenant: Tenant
) -> None:
    morning = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert await scans.scan_dead(env, at=morning) == 0
    await _dead(env, tenant.org_id, "dead-1")
    await _dead(env, tenant.org_id, "dead-2")
    assert await scans.scan_dead(env, at=morning - SECOND) == 0
    assert await scans.scan_dead(env, at=morning) == 1
    assert await scans.scan_dead(env, at=morning + 10 * 3600 * SECOND) == 0
    assert await scans.scan_dead(env, at=morning + DAY) == 1
    rows = await stored_notifications(env, kind=Kind.DEAD_SUMMARY)
    assert [r.payload for r in rows] == [
        {"count": 2, "by_kind": {"document.shared": 2}, "date": "2026-11-24"},
        {"count": 2, "by_kind": {"document.shared": 2}, "date": "2026-11-25"},
    ]
    assert {(r.target, r.channel) for r in rows} == {("org", "slack")}


# -- quiet hours across daylight-saving changes -------------------------------------------


def _warsaw() -> Organization:
    return Organization(slug="w", name="W", timezone="Europe/Warsaw")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # autumn: 25 Oct 2026, 03:00 CEST becomes 02:00 CET
        (
            datetime(2026, 10, 24, 17, 59, 59, tzinfo=UTC),
            datetime(2026, 10, 24, 17, 59, 59, tzinfo=UTC),
        ),
        (datetime(2026, 10, 24, 18, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 7, 59, 59, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 8, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        (
            datetime(2026, 10, 25, 18, 59, 59, tzinfo=UTC),
            datetime(2026, 10, 25, 18, 59, 59, tzinfo=UTC),
        ),
        (datetime(2026, 10, 25, 19, 0, tzinfo=UTC), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
        # spring: 28 Mar 2027, 02:00 CET becomes 03:00 CEST
        (datetime(2027, 3, 27, 19, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        (datetime(2027, 3, 28, 1, 30, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        (datetime(2027, 3, 28, 6, 59, 59, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        (datetime(2027, 3, 28, 7, 0, tzinfo=UTC), datetime(2027, 3, 28, 7, 0, tzinfo=UTC)),
        (datetime(2027, 3, 28, 18, 0, tzinfo=UTC), datetime(2027, 3, 29, 7, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_follow_warsaw_clocks_across_daylight_saving(
    at: datetime, expected: datetime
) -> None:
    assert quiet_hours.send_from(_warsaw(), at) == expected


def test_quiet_hours_may_wrap_past_midnight_or_be_off() -> None:
    night_shift = Organization(slug="n", name="N", quiet_hours_start=22, quiet_hours_end=6)
    assert quiet_hours.send_from(night_shift, datetime(2026, 11, 23, 23, 0, tzinfo=UTC)) == (
        datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    )
    assert quiet_hours.send_from(night_shift, datetime(2026, 11, 23, 12, 0, tzinfo=UTC)) == (
        datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    )
    always = Organization(slug="a", name="A", quiet_hours_start=0, quiet_hours_end=0)
    assert quiet_hours.allowed(always, datetime(2026, 11, 23, 3, 0, tzinfo=UTC))


async def test_a_scan_across_the_autumn_change_holds_reminders_until_nine_local(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    clock.at = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
    await _set_org(env, tenant.org_id, timezone="Europe/Warsaw")
    until = datetime(2026, 10, 27, 23, 0, tzinfo=UTC)
    doc = await _document(env, tenant, until=until)
    await _share(env, tenant, doc, tenant.recipient_id)
    person = await _recipient(env, tenant, "Olaf", access_expires_at=until)
    at = datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # 01:00 CEST, the night of the change
    report = await scans.run_all(env, at=at)
    assert (report.availability, report.access_ending, report.access_ending_staff) == (1, 1, 1)
    morning = datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET
    queued = [r for r in await stored_notifications(env) if r.created_at == at]
    assert len(queued) == 4
    for row in queued:
        held = row.kind in (Kind.AVAILABILITY_ENDING, Kind.ACCESS_ENDING)
        assert row.next_attempt_at == (morning if held else at), row.kind
    assert {r.target for r in queued if r.kind == Kind.ACCESS_ENDING} == {str(person)}


async def test_reminder_settings_refuse_bad_values(env: Env, tenant: Tenant) -> None:
    async def change(**values: object) -> object:
        return await scans.set_reminder_settings(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            **values,  # type: ignore[arg-type]
        )

    with pytest.raises(InvalidInput, match="remind 0 to 60 days ahead"):
        await change(remind_days_before=61)
    with pytest.raises(InvalidInput, match="whole hours from 0 to 23, not 24"):
        await change(quiet_hours_end=24)
    with pytest.raises(InvalidInput, match="'Mars/Olympus' is not a time zone"):
        await change(timezone="Mars/Olympus")
    org = await change(quiet_hours_start=8, quiet_hours_end=18, timezone="Europe/Stockholm")
    assert isinstance(org, Organization)
    assert (org.quiet_hours_start, org.quiet_hours_end, org.timezone) == (8, 18, "Europe/Stockholm")


# -- repeated and concurrent scans --------------------------------------------------------


async def _everything_due(env: Env, tenant: Tenant) -> datetime:
    """One of each reminder due at the returned moment."""
    doc = await _document(env, tenant, until=START + 3 * DAY)
    await _share(env, tenant, doc, tenant.recipient_id)
    await _request(env, tenant, [NewParty(role="signer", name="Sam", email="s@x.test")])
    await _link(env, tenant, START + DAY)
    await _recipient(env, tenant, "Olaf", access_expires_at=START + 4 * DAY)
    await _dead(env, tenant.org_id, "dead-1")
    return START + 2 * DAY


async def test_a_second_scan_queues_nothing_more(env: Env, tenant: Tenant) -> None:
    at = await _everything_due(env, tenant)
    first = await scans.run_all(env, at=at)
    assert first.counts() == {
        "availability": 1,
        "availability_staff": 1,
        "sign": 1,
        "expired": 0,
        "links_unused": 1,
        "access_ending": 1,
        "access_ending_staff": 1,
        "dead_summaries": 1,
    }
    again = await scans.run_all(env, at=at)
    assert again.total == 0
    later = await scans.run_all(env, at=at + 60 * SECOND)
    assert later.total == 0


async def test_two_schedulers_on_one_store_queue_each_reminder_once(
    env: Env, tenant: Tenant, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    at = await _everything_due(env, tenant)
    second_engine = make_engine(database_url)
    try:
        other = Env(
            sessions=make_session_factory(second_engine),
            blobs=FileBlobStore(tmp_path / "blobs"),
            clock=FixedClock(at),
        )
        one, two = await asyncio.gather(scans.run_all(env, at=at), scans.run_all(other, at=at))
    finally:
        await second_engine.dispose()
    combined = {k: one.counts()[k] + two.counts()[k] for k in one.counts()}
    assert combined["sign"] == 1 and combined["availability"] == 1
    rows = await stored_notifications(env)
    keys = [r.dedupe_key for r in rows]
    assert len(keys) == len(set(keys))
    assert len([r for r in rows if r.kind == Kind.SIGN_REMINDER]) == 1
    assert len([r for r in rows if r.kind == Kind.AVAILABILITY_ENDING]) == 1
    assert len([r for r in rows if r.kind == Kind.DEAD_SUMMARY]) == 1


async def test_an_ending_document_is_shown_as_unavailable_at_its_moment(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    until = START + DAY
    doc = await _document(env, tenant, until=until)
    shared = await _share(env, tenant, doc, tenant.recipient_id)
    assert shared.token is not None
    clock.at = until - SECOND
    await access.resolve(env, shared.token)
    clock.at = until
    with pytest.raises(NotAvailableNow):
        await access.resolve(env, shared.token)


async def test_the_scans_forget_updates_handled_more_than_a_day_ago(
    env: Env, clock: FixedClock
) -> None:
    assert await platform.first_delivery(env, source="slack-signature", update_id="old")
    clock.at += timedelta(hours=23)
    assert await platform.first_delivery(env, source="slack", update_id="recent")
    clock.at += timedelta(hours=2)

    await scans.run_all(env, at=clock.now())

    assert await platform.first_delivery(env, source="slack-signature", update_id="old")
    assert not await platform.first_delivery(env, source="slack", update_id="recent")
