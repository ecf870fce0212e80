"""A shared cabinet keeps its members informed: a colleague's new document, and colleagues
who gain or lose access, each told once, in the outbox of the change itself, and routed by
the member's own choices."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.models import Notification, Recipient
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import add_person, stored_notifications, upload
from workflows.context import Env
from workflows.outbox.kinds import (
    CabinetDocumentPayload,
    CabinetMemberPayload,
    Hold,
    Kind,
    Preference,
    Via,
)
from workflows.people import groups, organizations, preferences, recipients, spaces
from workflows.sharing import cabinet_notices, sharing

CARL_CHAT = 7001


async def chat_linked(env: Env, recipient_id: int, *, chat_id: int) -> None:
    """The recipient as linking a Telegram chat leaves them."""
    async with env.sessions() as session, session.begin():
        person = await session.get(Recipient, recipient_id)
        assert person is not None
        person.telegram_chat_id = person.telegram_user_id = chat_id
        person.telegram_active = True
        person.status = "active"
        session.add(person)


@dataclass(frozen=True)
class Cabinet:
    """The tenant's client keeping a shared cabinet of Rita, Carl and Dana."""

    rita: int
    carl: int
    dana: int


async def _cabinet(env: Env, tenant: Tenant) -> Cabinet:
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    carl = await add_person(env, tenant, name="Carl Colleague", email="carl@nordic.test")
    dana = await add_person(env, tenant, name="Dana Colleague", email="dana@nordic.test")
    return Cabinet(rita=tenant.recipient_id, carl=carl, dana=dana)


async def _document(env: Env, tenant: Tenant, title: str = "Fee table 2027") -> int:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    assert document.id is not None
    return document.id


async def _share(env: Env, tenant: Tenant, document_id: int, recipient_id: int) -> int:
    result = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document_id,
        recipient_id=recipient_id,
    )  # fmt: skip
    return result.share.id


async def _told(env: Env, kind: Kind) -> dict[int, Notification]:
    """The notices of ``kind`` queued, by the member they are for."""
    rows = await stored_notifications(env, kind=kind)
    assert len({row.target for row in rows}) == len(rows), "one notice a member"
    return {int(row.target): row for row in rows}


async def test_a_share_with_one_member_tells_every_other_member_and_not_the_receiver(
    env: Env, tenant: Tenant
) -> None:
    cabinet = await _cabinet(env, tenant)
    document = await _document(env, tenant)

    share_id = await _share(env, tenant, document, cabinet.rita)

    told = await _told(env, Kind.CABINET_DOCUMENT)
    assert set(told) == {cabinet.carl, cabinet.dana}
    for member, row in told.items():
        assert row.channel == "recipient" and row.status == "pending"
        assert row.dedupe_key == f"cabinet.document:{document}:{member}"
        assert CabinetDocumentPayload.parse(row) == CabinetDocumentPayload(
            document_id=document, share_id=share_id, colleague_id=cabinet.rita, others=0
        )
    [own] = await stored_notifications(env, kind=Kind.DOCUMENT_SHARED)
    assert own.target == str(cabinet.rita)

    # Carl receives it too: he gets his own notice; nobody is told of it a second time.
    await _share(env, tenant, document, cabinet.carl)
    assert set(await _told(env, Kind.CABINET_DOCUMENT)) == {cabinet.carl, cabinet.dana}
    assert len(await stored_notifications(env, kind=Kind.DOCUMENT_SHARED)) == 2


async def test_members_without_access_and_other_clients_are_not_told(
    env: Env, tenant: Tenant
) -> None:
    cabinet = await _cabinet(env, tenant)
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.dana, blocked=True
    )
    other = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Baltic Ships", shared_cabinet=True
    )
    assert other.id is not None
    await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=other.id, name="Olga Outsider"
    )

    await _share(env, tenant, await _document(env, tenant), cabinet.rita)

    assert set(await _told(env, Kind.CABINET_DOCUMENT)) == {cabinet.carl}


async def test_a_group_share_with_two_members_tells_the_third_once(
    env: Env, tenant: Tenant
) -> None:
    cabinet = await _cabinet(env, tenant)
    group = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board",
        member_ids=[cabinet.rita, cabinet.carl],
    )  # fmt: skip
    document = await _document(env, tenant)

    result = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document, group_id=id_of(group)
    )

    [(dana, row)] = (await _told(env, Kind.CABINET_DOCUMENT)).items()
    assert dana == cabinet.dana
    payload = CabinetDocumentPayload.parse(row)
    assert (payload.colleague_id, payload.others) == (cabinet.rita, 1)
    assert payload.share_id == result.shares[0].share.id


async def test_a_space_share_tells_the_members_outside_the_space(env: Env, tenant: Tenant) -> None:
    cabinet = await _cabinet(env, tenant)
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Tax", client_id=tenant.client_id,
        member_ids=[cabinet.rita],
    )  # fmt: skip
    document = await _document(env, tenant)

    shared = await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=document, space_id=id_of(space)
    )

    told = await _told(env, Kind.CABINET_DOCUMENT)
    assert set(told) == {cabinet.carl, cabinet.dana}
    payload = CabinetDocumentPayload.parse(told[cabinet.carl])
    assert (payload.share_id, payload.colleague_id) == (shared.share.share.id, cabinet.rita)
    # Carl is not a member of the space, so the notice offers nothing to open.
    route = await cabinet_notices.route_cabinet_notice(env, told[cabinet.carl])
    assert route.way == Via.EMAIL and route.notice is not None and route.notice.share is None


async def test_a_client_without_a_shared_cabinet_queues_nothing(env: Env, tenant: Tenant) -> None:
    carl = await add_person(env, tenant, name="Carl Colleague", email="carl@nordic.test")
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=carl, blocked=True
    )
    await _share(env, tenant, await _document(env, tenant), tenant.recipient_id)

    for kind in (Kind.CABINET_DOCUMENT, Kind.CABINET_JOINED, Kind.CABINET_LEFT):
        assert await stored_notifications(env, kind=kind) == []


async def test_a_large_group_share_tells_its_cabinet_in_one_statement(
    env: Env, engine: AsyncEngine, tenant: Tenant
) -> None:
    """The statements a group share runs do not grow with its members."""
    cabinet = await _cabinet(env, tenant)

    async def statements_to_share_with(size: int) -> int:
        members = [await add_person(env, tenant, name=f"Member {size}-{n}") for n in range(size)]
        group = await groups.create_group(
            env, org_id=tenant.org_id, actor=STAFF, name=f"Group of {size}", member_ids=members
        )
        document = await _document(env, tenant, title=f"For {size}")
        count = 0

        def counted(*_: object) -> None:
            nonlocal count
            count += 1

        event.listen(engine.sync_engine, "before_cursor_execute", counted)
        try:
            await sharing.share_with_group(
                env, org_id=tenant.org_id, actor=STAFF, document_id=document, group_id=id_of(group)
            )
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", counted)
        return count

    assert await statements_to_share_with(2) == await statements_to_share_with(40)
    # Everyone not in the second group was told of its document: Rita, Carl, Dana and the
    # first group's two.
    rows = await stored_notifications(env, kind=Kind.CABINET_DOCUMENT)
    latest = max(CabinetDocumentPayload.parse(row).document_id for row in rows)
    outside = [r for r in rows if CabinetDocumentPayload.parse(r).document_id == latest]
    assert {cabinet.rita, cabinet.carl, cabinet.dana} <= {int(r.target) for r in outside}
    assert len(outside) == 5
    assert CabinetDocumentPayload.parse(outside[0]).others == 39


async def test_joining_and_being_blocked_or_unblocked_is_told_to_the_others(
    env: Env, tenant: Tenant
) -> None:
    cabinet = await _cabinet(env, tenant)
    # Carl's and Dana's arrival: Rita heard of both, Carl of Dana, Dana of nobody.
    joined = await stored_notifications(env, kind=Kind.CABINET_JOINED)
    # One arrival's notices are written by one INSERT ... SELECT: their ids follow no order.
    told = sorted((int(r.target), CabinetMemberPayload.parse(r).colleague_id) for r in joined)
    assert told == sorted(
        [(cabinet.rita, cabinet.carl), (cabinet.rita, cabinet.dana), (cabinet.carl, cabinet.dana)]
    )

    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.carl, blocked=True
    )
    left = await _told(env, Kind.CABINET_LEFT)
    assert set(left) == {cabinet.rita, cabinet.dana}
    assert {CabinetMemberPayload.parse(r).colleague_id for r in left.values()} == {cabinet.carl}

    # Blocked, Carl hears of nobody; unblocked, the others hear he is back, again.
    erik = await add_person(env, tenant, name="Erik Newcomer")
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.carl, blocked=False
    )
    joined = await stored_notifications(env, kind=Kind.CABINET_JOINED)
    about_erik = {
        int(r.target) for r in joined if CabinetMemberPayload.parse(r).colleague_id == erik
    }
    assert about_erik == {cabinet.rita, cabinet.dana}
    back = [r for r in joined[-3:] if CabinetMemberPayload.parse(r).colleague_id == cabinet.carl]
    assert {int(r.target) for r in back} == {cabinet.rita, cabinet.dana, erik}


async def test_news_of_a_colleague_goes_by_the_members_choices(env: Env, tenant: Tenant) -> None:
    cabinet = await _cabinet(env, tenant)
    await chat_linked(env, cabinet.carl, chat_id=CARL_CHAT)
    share_id = await _share(env, tenant, await _document(env, tenant), cabinet.rita)
    row = (await _told(env, Kind.CABINET_DOCUMENT))[cabinet.carl]

    route = await cabinet_notices.route_cabinet_notice(env, row)
    assert route.way == Via.TELEGRAM and route.notice is not None
    assert route.notice.colleague.name == "Rita Recipient"
    # In a cabinet Carl may open Rita's document: the notice carries her share.
    assert route.notice.share is not None and route.notice.share.id == share_id

    async def choose(channel: Via, enabled: bool) -> None:
        await preferences.set_preferences(
            env, recipient_id=cabinet.carl, org_id=tenant.org_id, actor=STAFF,
            choices={(channel, Preference.CABINET.value): enabled},
        )  # fmt: skip

    await choose(Via.TELEGRAM, False)
    assert (await cabinet_notices.route_cabinet_notice(env, row)).way == Via.EMAIL
    await choose(Via.EMAIL, False)
    off = await cabinet_notices.route_cabinet_notice(env, row)
    assert (off.way, off.reason) == (Hold.CANCEL, "the recipient turned these notifications off")
    # Other kinds are not affected.
    async with env.reads() as session:
        carl = await session.get(Recipient, cabinet.carl)
    assert carl is not None and preferences.way_for(carl, Preference.SHARED).way == Via.TELEGRAM


async def test_news_that_no_longer_holds_is_cancelled(env: Env, tenant: Tenant) -> None:
    cabinet = await _cabinet(env, tenant)
    share_id = await _share(env, tenant, await _document(env, tenant), cabinet.rita)
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.carl, blocked=True
    )
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=cabinet.carl, blocked=False
    )
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=share_id)

    document = (await _told(env, Kind.CABINET_DOCUMENT))[cabinet.dana]
    [left] = [r for r in await stored_notifications(env, kind=Kind.CABINET_LEFT)
              if r.target == str(cabinet.dana)]  # fmt: skip
    reasons = [
        (await cabinet_notices.route_cabinet_notice(env, row)).reason for row in (document, left)
    ]
    assert reasons == ["the share ended before it was told of", "Carl Colleague has access again"]

    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=False
    )
    joined = (await stored_notifications(env, kind=Kind.CABINET_JOINED))[-1]
    route = await cabinet_notices.route_cabinet_notice(env, joined)
    assert (route.way, route.reason) == (Hold.CANCEL, "they no longer share a cabinet")
