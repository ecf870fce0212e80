"""Webhook endpoints and the events queued for them, in the transaction of each change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Notification, Organization, Recipient, WebhookEndpoint
from tests.conftest import STAFF, START, Tenant, make_tenant
from tests.helpers import (
    audit_events,
    chunks,
    request_status,
    sealed_documents,
    stored_notifications,
    upload,
)
from workflows import outbox, scans
from workflows.context import Actor, Env, FixedClock
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotFound
from workflows.outbox import claims
from workflows.outbox.kinds import Channel, Kind, SharePayload, Status, WebhookPayload
from workflows.people import organizations
from workflows.sharing import access, inbox, sharing
from workflows.sharing.access import Visitor
from workflows.signing import completion, creation, deciding, party_page, requests
from workflows.signing.creation import NewParty, NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key
from workflows.webhooks import deliveries, emitting, endpoints
from workflows.webhooks.addresses import AddressPolicy
from workflows.webhooks.deliveries import Delivery, RetryPolicy
from workflows.webhooks.events import EventType, document_shared

OPEN = AddressPolicy()
LOOPBACK = AddressPolicy(allow_private=True)
URL = "https://erp.example.com/hooks"
WEB = Actor(type="party", label="page", ip="203.0.113.9", user_agent="Firefox")


async def _endpoint(env: Env, tenant: Tenant, *events: EventType) -> int:
    made = await endpoints.register_endpoint(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        url=URL,
        events=[e.value for e in events or tuple(EventType)],
        policy=OPEN,
    )
    return made.endpoint.id


async def _webhooks(env: Env) -> list[Notification]:
    return await stored_notifications(env, channels=(Channel.WEBHOOK,))


def _body(row: Notification) -> dict[str, object]:
    return json.loads(WebhookPayload.parse(row).body)


async def _share(env: Env, tenant: Tenant) -> sharing.ShareResult:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    return await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
    )


# -- endpoints ------------------------------------------------------------------------------


async def test_registering_gives_a_standard_secret_once_and_listing_never_shows_it(
    env: Env, tenant: Tenant
) -> None:
    made = await endpoints.register_endpoint(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        url=f" {URL} ",
        events=["request.completed", "document.shared", "document.shared"],
        policy=OPEN,
        description="ERP",
    )
    assert made.secret.startswith("whsec_") and len(made.secret) > 40
    assert made.endpoint.url == URL
    assert made.endpoint.events == ("document.shared", "request.completed")
    [listed] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert made.secret not in repr(listed)
    assert listed.enabled and listed.description == "ERP"
    assert [e.action for e in await audit_events(env, org_id=tenant.org_id)][-1] == "webhook.added"


@pytest.mark.parametrize(
    ("url", "events", "problem"),
    [
        ("ftp://erp.example.com/", ["document.shared"], "not an http or https URL"),
        ("https://", ["document.shared"], "names no host"),
        ("", ["document.shared"], "give the endpoint's URL"),
        ("http://127.0.0.1:8000/hook", ["document.shared"], "loopback address"),
        ("http://10.1.2.3/hook", ["document.shared"], "private address"),
        ("http://[fe80::1]/hook", ["document.shared"], "link-local address"),
        ("http://169.254.169.254/latest", ["document.shared"], "link-local address"),
        (URL, ["document.exploded"], "unknown event 'document.exploded'"),
        (URL, [], "name at least one event"),
    ],
)
async def test_a_bad_endpoint_is_refused_and_nothing_is_written(
    env: Env, tenant: Tenant, url: str, events: list[str], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        await endpoints.register_endpoint(
            env, org_id=tenant.org_id, actor=STAFF, url=url, events=events, policy=OPEN
        )
    assert await endpoints.list_endpoints(env, org_id=tenant.org_id) == []


async def test_private_addresses_are_allowed_only_when_the_operator_says_so(
    env: Env, tenant: Tenant
) -> None:
    office = AddressPolicy.of(allow_private=False, networks=["10.1.0.0/16"])
    for policy, url in ((LOOPBACK, "http://127.0.0.1:9/h"), (office, "http://10.1.2.3/h")):
        made = await endpoints.register_endpoint(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            url=url,
            events=["document.shared"],
            policy=policy,
        )
        assert made.endpoint.url == url
    with pytest.raises(InvalidInput, match="private address"):
        await endpoints.register_endpoint(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            url="http://10.2.0.1/h",
            events=["document.shared"],
            policy=office,
        )


async def test_only_administrators_manage_endpoints(env: Env, tenant: Tenant) -> None:
    member = Actor.staff(tenant.staff_id, "Stella Staff")
    with pytest.raises(NotAllowed, match="only administrators"):
        await endpoints.register_endpoint(
            env,
            org_id=tenant.org_id,
            actor=member,
            url=URL,
            events=["document.shared"],
            policy=OPEN,
        )
    admin = await organizations.add_staff(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Ada Admin",
        email="ada@acme.test",
        role="admin",
    )
    assert admin.id is not None
    made = await endpoints.register_endpoint(
        env,
        org_id=tenant.org_id,
        actor=Actor.staff(admin.id, "Ada Admin"),
        url=URL,
        events=["document.shared"],
        policy=OPEN,
    )
    with pytest.raises(NotAllowed):
        await endpoints.remove_endpoint(
            env, org_id=tenant.org_id, actor=member, endpoint_id=made.endpoint.id
        )


async def test_another_organisations_endpoint_is_not_found(env: Env, tenant: Tenant) -> None:
    other = await make_tenant(env, "globex")
    endpoint_id = await _endpoint(env, other)
    with pytest.raises(NotFound, match=f"no webhook endpoint {endpoint_id}"):
        await endpoints.remove_endpoint(
            env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id
        )
    assert len(await endpoints.list_endpoints(env, org_id=other.org_id)) == 1


async def _secrets(env: Env, endpoint_id: int) -> tuple[str, str | None, object]:
    async with env.reads() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        return row.secret, row.previous_secret, row.previous_secret_until


async def test_rotating_a_secret_keeps_the_old_one_signing_for_the_overlap_only(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    endpoint_id = await _endpoint(env, tenant)
    first, _, _ = await _secrets(env, endpoint_id)
    rotated = await endpoints.rotate_secret(
        env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id
    )
    assert rotated.secret.startswith("whsec_") and rotated.secret != first
    secret, previous, until = await _secrets(env, endpoint_id)
    assert (secret, previous, until) == (rotated.secret, first, clock.at + timedelta(hours=24))
    async with env.reads() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
        assert row is not None
        assert endpoints.earlier_secrets(row, at=clock.at) == (first,)
        assert endpoints.earlier_secrets(row, at=clock.at + timedelta(hours=24)) == ()
    [event] = [e for e in await audit_events(env, org_id=tenant.org_id) if "rotated" in e.action]
    assert event.action == "webhook.secret_rotated"
    assert event.details == {"endpoint_id": endpoint_id, "old_secret_signs_hours": 24.0}
    assert first not in repr(event.details) and rotated.secret not in repr(event.details)

    # At once: the old secret stops signing now.
    again = await endpoints.rotate_secret(
        env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id, overlap=timedelta(0)
    )
    assert await _secrets(env, endpoint_id) == (again.secret, None, None)


async def test_a_rotation_is_refused_without_changing_anything(env: Env, tenant: Tenant) -> None:
    endpoint_id = await _endpoint(env, tenant)
    before = await _secrets(env, endpoint_id)
    with pytest.raises(InvalidInput, match="for 0 to 168 hours"):
        await endpoints.rotate_secret(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            endpoint_id=endpoint_id,
            overlap=timedelta(days=8),
        )
    with pytest.raises(NotAllowed, match="only administrators"):
        await endpoints.rotate_secret(
            env,
            org_id=tenant.org_id,
            actor=Actor.staff(tenant.staff_id, "Stella Staff"),
            endpoint_id=endpoint_id,
        )
    other = await make_tenant(env, "globex")
    with pytest.raises(NotFound, match=f"no webhook endpoint {endpoint_id}"):
        await endpoints.rotate_secret(
            env, org_id=other.org_id, actor=STAFF, endpoint_id=endpoint_id
        )
    assert await _secrets(env, endpoint_id) == before


async def test_changing_an_endpoint_keeps_what_is_not_named(env: Env, tenant: Tenant) -> None:
    endpoint_id = await _endpoint(env, tenant, EventType.DOCUMENT_SHARED)
    changed = await endpoints.update_endpoint(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        endpoint_id=endpoint_id,
        policy=OPEN,
        events=["request.completed"],
    )
    assert changed.url == URL and changed.events == ("request.completed",)
    with pytest.raises(InvalidInput, match="unknown event"):
        await endpoints.update_endpoint(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            endpoint_id=endpoint_id,
            policy=OPEN,
            url="https://new.example.com/h",
            events=["nope"],
        )
    [kept] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert kept.url == URL


# -- emitting ------------------------------------------------------------------------------


async def test_an_organisation_without_endpoints_queues_no_webhook(
    env: Env, tenant: Tenant
) -> None:
    await _share(env, tenant)
    assert await _webhooks(env) == []


async def test_a_share_queues_one_delivery_per_endpoint_that_wants_it(
    env: Env, tenant: Tenant
) -> None:
    wants = await _endpoint(env, tenant, EventType.DOCUMENT_SHARED)
    await _endpoint(env, tenant, EventType.REQUEST_COMPLETED)
    other = await make_tenant(env, "globex")
    await _endpoint(env, other)

    made = await _share(env, tenant)

    [row] = await _webhooks(env)
    payload = WebhookPayload.parse(row)
    assert row.org_id == tenant.org_id and payload.endpoint_id == wants
    assert payload.message_id.startswith("msg_")
    body = _body(row)
    assert body["type"] == "document.shared"
    assert body["data"] == {
        "document_id": made.share.document_id,
        "document_ref": "D-1",
        "title": "Fee table 2027",
        "share_id": made.share.id,
        "share_kind": "recipient",
        "recipient_id": tenant.recipient_id,
        "space_id": None,
        "expires_at": None,
    }


async def test_a_failed_share_writes_no_webhook(env: Env, tenant: Tenant) -> None:
    await _endpoint(env, tenant)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    with pytest.raises(InvalidInput, match="the expiry must be in the future"):
        await sharing.share_with_recipient(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            document_id=document.id,
            recipient_id=tenant.recipient_id,
            terms=sharing.ShareTerms(expires_at=START - timedelta(days=1)),
        )
    assert await _webhooks(env) == []


async def test_a_rolled_back_transaction_takes_its_webhooks_with_it(
    env: Env, tenant: Tenant
) -> None:
    await _endpoint(env, tenant)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    with pytest.raises(RuntimeError, match="the change failed"):
        async with env.sessions() as session, session.begin():
            shared = document_shared(
                document=document, share={"id": 1, "kind": "recipient"}, at=START
            )
            assert await emitting.emit(session, shared) == 1
            raise RuntimeError("the change failed")
    assert await _webhooks(env) == []


async def test_a_disabled_endpoint_gets_no_new_events(env: Env, tenant: Tenant) -> None:
    endpoint_id = await _endpoint(env, tenant)
    await endpoints.disable_endpoint(
        env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id
    )
    await _share(env, tenant)
    assert await _webhooks(env) == []


async def test_first_opens_and_downloads_are_events_once_per_recipient(
    env: Env, tenant: Tenant
) -> None:
    await _endpoint(env, tenant, EventType.DOCUMENT_OPENED, EventType.DOCUMENT_DOWNLOADED)
    made = await _share(env, tenant)
    assert made.token is not None
    visitor = Visitor(ip="127.0.0.1", user_agent="pytest")
    for _ in range(2):
        await access.open_shared(env, made.token, visitor)
        await access.start_download(env, made.token, visitor)
    rows = await _webhooks(env)
    assert sorted(_body(r)["type"] for r in rows) == ["document.downloaded", "document.opened"]
    assert all(_body(r)["data"]["recipient_id"] == tenant.recipient_id for r in rows)  # type: ignore[index]


async def test_the_access_recorder_reports_first_visits_in_its_batch(
    env: Env, tenant: Tenant
) -> None:
    await _endpoint(env, tenant, EventType.DOCUMENT_OPENED)
    made = await _share(env, tenant)
    assert made.token is not None
    recorder = access.AccessRecorder(env)
    await recorder.start()
    try:
        found = await access.resolve(env, made.token)
        visitor = Visitor(ip="127.0.0.1", user_agent="pytest")
        await recorder.record("open", found, visitor)
        await recorder.record("open", found, visitor)
    finally:
        await recorder.stop()
    [row] = await _webhooks(env)
    assert _body(row)["type"] == "document.opened"


async def test_a_returned_document_is_an_event(env: Env, tenant: Tenant) -> None:
    await _endpoint(env, tenant, EventType.DOCUMENT_RETURNED)
    async with env.reads() as session:
        person = await session.get(Recipient, tenant.recipient_id)
    assert person is not None
    document = await inbox.return_from(
        env,
        person,
        filename="signed.pdf",
        content=chunks(make_pdf("Signed contract")),
        caption="Signed contract",
    )
    [row] = await _webhooks(env)
    assert _body(row)["data"] == {
        "document_id": document.id,
        "document_ref": document.ref,
        "title": "Signed contract",
        "recipient_id": tenant.recipient_id,
    }


async def test_decisions_and_a_decline_are_events(env: Env, tenant: Tenant) -> None:
    await _endpoint(
        env,
        tenant,
        EventType.REQUEST_PARTY_DECIDED,
        EventType.REQUEST_DECLINED,
        EventType.REQUEST_EXPIRED,
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            parties=[
                NewParty(role="approver", name="Ada", phone="+46 70 111 22 33"),
                NewParty(role="signer", name="Sam", phone="+46 70 444 55 66"),
            ],
        ),
    )
    ada, sam = created.parties
    await party_page.record_opened(env, ada.token, document.id, actor=WEB)
    await deciding.decide(env, ada.token, Decision(kind="approve", consent=True), actor=WEB)
    await deciding.decide(env, sam.token, Decision(kind="decline", reason="Wrong fee"), actor=WEB)
    bodies = [_body(r) for r in await _webhooks(env)]
    assert [b["type"] for b in bodies] == [
        "request.party_decided",
        "request.party_decided",
        "request.declined",
    ]
    assert [b["data"]["decision"] for b in bodies[:2]] == ["approved", "declined"]  # type: ignore[index]
    assert bodies[2]["data"]["reason"] == "Wrong fee"  # type: ignore[index]
    assert await request_status(env, created.request.id) == requests.DECLINED


async def test_a_notification_given_up_is_a_delivery_dead_event(env: Env, tenant: Tenant) -> None:
    await _endpoint(env, tenant, EventType.DELIVERY_DEAD)
    async with env.sessions() as session, session.begin():
        await outbox.enqueue(
            session,
            org_id=tenant.org_id,
            channel=Channel.RECIPIENT,
            target=str(tenant.recipient_id),
            payload=SharePayload(share_id=1, document_id=1),
            dedupe_key="test:dead",
            at=START,
        )
    [row] = await claims.claim_due(env, worker="w", channels=[Channel.RECIPIENT])
    await claims.mark_failed(env, row, worker="w", error="bot was blocked", permanent=True)
    [hook] = await _webhooks(env)
    assert _body(hook)["data"] == {
        "notification_id": row.id,
        "notification_kind": "document.shared",
        "channel": "recipient",
        "error": "bot was blocked",
    }


# -- deliveries -----------------------------------------------------------------------------


async def _claimed(env: Env) -> Delivery:
    rows = await claims.claim_due(env, worker="w", channels=[Channel.WEBHOOK])
    [item] = await deliveries.prepare(env, rows)
    assert isinstance(item, Delivery)
    return item


async def test_a_delivery_backs_off_dies_and_is_retried_with_the_same_id_and_body(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _endpoint(env, tenant)
    await _share(env, tenant)
    [queued] = await _webhooks(env)
    policy = RetryPolicy(max_attempts=3, disable_after_dead=10)
    waits = []
    for attempt in range(1, 4):
        delivery = await _claimed(env)
        assert delivery.row.attempts == attempt
        status = await deliveries.mark_failed(
            env, delivery, worker="w", error="answered 500", policy=policy
        )
        [row] = await _webhooks(env)
        waits.append(row.next_attempt_at - clock.now())
        clock.at = row.next_attempt_at
    assert status == Status.DEAD
    assert waits[0] > timedelta(0) and waits[1] > waits[0] * 0.6 and waits[2] == timedelta(0)
    [dead] = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="dead")
    assert dead.attempts == 3 and dead.last_error == "answered 500"

    with pytest.raises(NotFound, match="no webhook delivery 999"):
        await deliveries.retry_deliveries(
            env, org_id=tenant.org_id, actor=STAFF, delivery_ids=[dead.id, 999]
        )
    assert (
        await deliveries.retry_deliveries(
            env, org_id=tenant.org_id, actor=STAFF, delivery_ids=[dead.id]
        )
        == 1
    )
    with pytest.raises(Conflict, match="only dead deliveries are retried"):
        await deliveries.retry_deliveries(
            env, org_id=tenant.org_id, actor=STAFF, delivery_ids=[dead.id]
        )
    again = await _claimed(env)
    assert again.row.attempts == 1
    assert again.row.payload == queued.payload  # the same webhook-id and body
    assert await deliveries.mark_delivered(env, [(again, 204)], worker="w") == 1
    [sent] = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="sent")
    assert sent.message_id == WebhookPayload.parse(queued).message_id


async def test_an_endpoint_that_keeps_failing_is_turned_off_and_admins_are_told(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    admin = await organizations.add_staff(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        name="Ada Admin",
        email="ada@acme.test",
        role="admin",
    )
    endpoint_id = await _endpoint(env, tenant)
    policy = RetryPolicy(max_attempts=1, disable_after_dead=2)
    for _ in range(3):
        await _share(env, tenant)
    for _ in range(2):
        delivery = await _claimed_one(env)
        await deliveries.mark_failed(env, delivery, worker="w", error="answered 503", policy=policy)
    [view] = await endpoints.list_endpoints(env, org_id=tenant.org_id)
    assert not view.enabled
    assert view.disabled_reason == "2 deliveries in a row were given up"
    [notice] = await stored_notifications(env, kind=Kind.WEBHOOK_DISABLED)
    assert notice.channel == Channel.SLACK and notice.target == f"staff:{admin.id}"
    assert notice.payload["endpoint_id"] == endpoint_id

    # The third waits for the endpoint rather than being tried against it.
    third = await _claimed_one(env)
    assert third.endpoint is not None and not third.endpoint.enabled
    await deliveries.mark_held(env, third, worker="w")
    waiting = await deliveries.list_deliveries(env, org_id=tenant.org_id, status="waiting")
    assert len(waiting) == 1
    with pytest.raises(Conflict, match="is off: turn it on first"):
        await deliveries.retry_deliveries(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            delivery_ids=[
                d.id
                for d in await deliveries.list_deliveries(env, org_id=tenant.org_id, status="dead")
            ],
        )
    await endpoints.enable_endpoint(env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id)
    assert await deliveries.list_deliveries(env, org_id=tenant.org_id, status="waiting") == []
    assert len(await deliveries.list_deliveries(env, org_id=tenant.org_id, status="pending")) == 1


async def _claimed_one(env: Env) -> Delivery:
    rows = await claims.claim_due(env, worker="w", channels=[Channel.WEBHOOK], limit=1)
    [item] = await deliveries.prepare(env, rows)
    assert isinstance(item, Delivery)
    return item


async def test_a_notice_channel_gets_the_turned_off_notice(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.slack_channel = "C0123ABCD"
        session.add(org)
    await _endpoint(env, tenant)
    await _share(env, tenant)
    policy = RetryPolicy(max_attempts=5, disable_after=timedelta(hours=1))
    delivery = await _claimed(env)
    await deliveries.mark_failed(env, delivery, worker="w", error="answered 500", policy=policy)
    clock.at = START + timedelta(hours=2)
    delivery = await _claimed(env)
    await deliveries.mark_failed(env, delivery, worker="w", error="answered 500", policy=policy)
    [notice] = await stored_notifications(env, kind=Kind.WEBHOOK_DISABLED)
    assert notice.target == "org"
    assert "has failed since" in notice.payload["reason"]


async def test_a_success_forgives_earlier_failures(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    await _endpoint(env, tenant)
    await _share(env, tenant)
    await _share(env, tenant)
    policy = RetryPolicy(max_attempts=1, disable_after_dead=2)
    await deliveries.mark_failed(env, await _claimed_one(env), worker="w", error="x", policy=policy)
    await deliveries.mark_delivered(env, [(await _claimed_one(env), 200)], worker="w")
    async with env.reads() as session:
        [endpoint] = (await session.exec(select(WebhookEndpoint))).all()
    assert endpoint.enabled and endpoint.dead_in_row == 0 and endpoint.failing_since is None


async def test_removing_an_endpoint_cancels_what_it_had_not_received(
    env: Env, tenant: Tenant
) -> None:
    endpoint_id = await _endpoint(env, tenant)
    await _share(env, tenant)
    cancelled = await endpoints.remove_endpoint(
        env, org_id=tenant.org_id, actor=STAFF, endpoint_id=endpoint_id
    )
    assert cancelled == 1
    [row] = await _webhooks(env)
    assert row.status == Status.CANCELLED
    assert await endpoints.list_endpoints(env, org_id=tenant.org_id) == []


async def test_listing_deliveries_refuses_an_unknown_status(env: Env, tenant: Tenant) -> None:
    with pytest.raises(InvalidInput, match="unknown status 'lost'"):
        await deliveries.list_deliveries(env, org_id=tenant.org_id, status="lost")


async def _request_to_sam(
    env: Env, tenant: Tenant, *, expires_at: datetime | None = None
) -> creation.CreatedRequest:
    """A request for one signer over a new document of the tenant's client."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    return await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="signer", name="Sam", phone="+46 70 444 55 66")],
            expires_at=expires_at,
        ),
    )


async def test_an_expired_request_is_an_event(env: Env, tenant: Tenant, clock: FixedClock) -> None:
    await _endpoint(env, tenant, EventType.REQUEST_EXPIRED)
    created = await _request_to_sam(env, tenant, expires_at=START + timedelta(days=2))
    assert await scans.expire_requests(env, at=START + timedelta(days=3)) == [created.request.ref]
    await scans.expire_requests(env, at=START + timedelta(days=4))
    [row] = await _webhooks(env)
    assert _body(row)["type"] == "request.expired"
    assert _body(row)["data"]["request_ref"] == created.request.ref  # type: ignore[index]


async def test_a_cancelled_request_is_an_event_with_the_reason(env: Env, tenant: Tenant) -> None:
    await _endpoint(env, tenant, EventType.REQUEST_CANCELLED)
    created = await _request_to_sam(env, tenant)
    await requests.cancel_request(
        env, org_id=tenant.org_id, actor=STAFF, ref=created.request.ref, reason="Sent in error"
    )
    [row] = await _webhooks(env)
    body = _body(row)
    assert body["type"] == "request.cancelled"
    assert body["data"] == {
        "request_id": created.request.id,
        "request_ref": created.request.ref,
        "title": created.request.title,
        "reason": "Sent in error",
    }


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


async def test_a_completed_request_is_an_event_with_its_sealed_pdfs(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    await _endpoint(env, tenant, EventType.REQUEST_COMPLETED)
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[document.id],
            parties=[NewParty(role="approver", name="Ada", phone="+46 70 111 22 33")],
        ),
    )
    [ada] = created.parties
    await party_page.record_opened(env, ada.token, document.id, actor=WEB)
    await deciding.decide(env, ada.token, Decision(kind="approve", consent=True), actor=WEB)
    assert created.request.id is not None
    assert [_body(r)["type"] for r in await _webhooks(env)] == []

    await completion.complete_request(env, created.request.id, key=seal)
    await completion.complete_request(env, created.request.id, key=seal)

    [row] = await _webhooks(env)
    [sealed] = await sealed_documents(env, org_id=tenant.org_id, request_id=created.request.id)
    data = _body(row)["data"]
    assert data == {
        "request_id": created.request.id,
        "request_ref": created.request.ref,
        "title": created.request.title,
        "sealed": [
            {
                "document_id": sealed.id,
                "document_ref": sealed.ref,
                "title": sealed.title,
                "sha256": sealed.sha256,
                "href": f"/api/v1/documents/{sealed.id}/file",
            }
        ],
    }
