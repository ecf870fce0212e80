"""The recipient's portal: signing in from a personal link or a mailed one, sessions that
end, and the documents a recipient finds there (theirs, their spaces', their cabinet's)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import Notification, PortalSession
from storage.rows import id_of
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import (
    add_person,
    audit_events,
    chunks,
    request_signatures,
    stored_notifications,
    upload,
)
from workflows.context import Env, FixedClock
from workflows.errors import Gone, InvalidInput, NotAllowed, NotFound, TooMany
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients, spaces
from workflows.portal import documents, sessions
from workflows.portal import requests as portal_requests
from workflows.portal.documents import Filters
from workflows.portal.sessions import Portal
from workflows.sharing import access, inbox, links, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing import creation, party_page
from workflows.signing.creation import NewParty, NewRequest

VISITOR = Visitor(ip="198.51.100.7", user_agent="Phone/1.0")
RITA = "rita@acme-client.test"


async def _share(env: Env, tenant: Tenant, *, title: str, recipient_id: int | None = None) -> str:
    """A new document shared with Rita (or ``recipient_id``); the personal link's token."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=recipient_id or tenant.recipient_id,
    )  # fmt: skip
    assert made.token is not None
    return made.token


async def _signed_in(env: Env, tenant: Tenant) -> tuple[str, Portal]:
    opened = await sessions.open_from_link(
        env, await _share(env, tenant, title="Fee table"), visitor=VISITOR
    )
    portal = await sessions.current(env, opened.token)
    assert portal is not None
    return opened.token, portal


async def _sign_in_rows(env: Env) -> list[Notification]:
    async with env.reads() as session:
        query = select(Notification).where(Notification.kind == Kind.PORTAL_SIGN_IN)
        return list((await session.exec(query)).all())


# -- signing in ----------------------------------------------------------------------------


async def test_a_personal_link_signs_its_recipient_in_and_the_history_says_so(
    env: Env, tenant: Tenant
) -> None:
    token, portal = await _signed_in(env, tenant)

    assert portal.recipient.id == tenant.recipient_id and portal.org_id == tenant.org_id
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.signed_in")
    assert event.details["via"] == "link" and event.ip == VISITOR.ip
    async with env.reads() as session:
        [row] = (await session.exec(select(PortalSession))).all()
    assert row.token_hash != token and len(row.token_hash) == 64


async def test_a_public_link_or_a_made_up_token_leads_to_no_portal(
    env: Env, tenant: Tenant
) -> None:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    public = await links.create_link(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document), terms=ShareTerms()
    )
    assert public.token is not None

    for token in (public.token, "A" * 32, "not a token"):
        with pytest.raises(NotFound, match="does not lead to anyone's documents"):
            await sessions.open_from_link(env, token, visitor=VISITOR)


async def test_a_revoked_link_signs_nobody_in(env: Env, tenant: Tenant) -> None:
    token = await _share(env, tenant, title="Fee table")
    found = await access.resolve(env, token)
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=id_of(found.share))

    with pytest.raises(Gone):
        await sessions.open_from_link(env, token, visitor=VISITOR)


async def test_a_mailed_link_is_asked_for_minted_as_it_goes_and_works_once(
    env: Env, tenant: Tenant
) -> None:
    await sessions.request_sign_in(env, email=RITA.upper(), ip="198.51.100.7")

    [row] = await _sign_in_rows(env)
    assert row.target == str(tenant.recipient_id) and "token" not in str(row.payload)
    link = await sessions.mint_sign_in(env, request_id=row.payload["request_id"])
    assert link is not None and link.recipient.id == tenant.recipient_id
    assert await sessions.mint_sign_in(env, request_id=row.payload["request_id"]) is None

    opened = await sessions.redeem_sign_in(env, link.token, visitor=VISITOR)

    assert opened.recipient_id == tenant.recipient_id
    with pytest.raises(Gone, match="expired or was used already"):
        await sessions.redeem_sign_in(env, link.token, visitor=VISITOR)
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.signed_in")
    assert event.details["via"] == "email"


async def test_a_mailed_link_expires(env: Env, tenant: Tenant, clock: FixedClock) -> None:
    await sessions.request_sign_in(env, email=RITA, ip=None)
    [row] = await _sign_in_rows(env)
    link = await sessions.mint_sign_in(env, request_id=row.payload["request_id"])
    assert link is not None

    clock.at += sessions.LINK_TTL + timedelta(seconds=1)

    with pytest.raises(Gone):
        await sessions.redeem_sign_in(env, link.token, visitor=VISITOR)


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    env: Env, tenant: Tenant
) -> None:
    assert await sessions.request_sign_in(env, email="nobody@else.test", ip=None) is None
    assert await _sign_in_rows(env) == []


async def test_a_blocked_recipient_is_sent_no_link(env: Env, tenant: Tenant) -> None:
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )

    await sessions.request_sign_in(env, email=RITA, ip=None)

    assert await _sign_in_rows(env) == []


@pytest.mark.parametrize("address", [RITA, "nobody@else.test"])
async def test_asking_too_often_is_refused_for_known_and_unknown_addresses(
    env: Env, tenant: Tenant, address: str
) -> None:
    for _ in range(sessions.PER_ADDRESS):
        await sessions.request_sign_in(env, email=address, ip=None)

    with pytest.raises(TooMany, match="try again in an hour"):
        await sessions.request_sign_in(env, email=address, ip=None)


async def test_one_address_asking_for_many_is_refused(env: Env, tenant: Tenant) -> None:
    for n in range(sessions.PER_IP):
        await sessions.request_sign_in(env, email=f"guess{n}@else.test", ip="203.0.113.9")

    with pytest.raises(TooMany):
        await sessions.request_sign_in(env, email=RITA, ip="203.0.113.9")
    await sessions.request_sign_in(env, email=RITA, ip="203.0.113.10")


@pytest.mark.parametrize("email", ["", "not an address"])
async def test_an_address_that_is_none_is_refused(env: Env, tenant: Tenant, email: str) -> None:
    with pytest.raises(InvalidInput):
        await sessions.request_sign_in(env, email=email, ip=None)


# -- sessions ------------------------------------------------------------------------------


async def test_a_session_ends_when_unused_for_too_long(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    token, _ = await _signed_in(env, tenant)
    clock.at += sessions.IDLE - timedelta(minutes=1)
    assert await sessions.current(env, token) is not None

    clock.at += sessions.IDLE - timedelta(minutes=1)  # used a minute before: still fresh
    assert await sessions.current(env, token) is not None

    clock.at += sessions.IDLE + timedelta(minutes=1)
    assert await sessions.current(env, token) is None


async def test_blocking_a_recipient_ends_their_sessions_at_once(env: Env, tenant: Tenant) -> None:
    token, _ = await _signed_in(env, tenant)
    link = await _share(env, tenant, title="Later")

    for blocked in (True, False):
        await recipients.set_recipient_blocked(
            env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id,
            blocked=blocked,
        )  # fmt: skip

    assert await sessions.current(env, token) is None
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    with pytest.raises(NotAllowed):
        await sessions.open_from_link(env, link, visitor=VISITOR)


async def test_signing_out_everywhere_ends_every_browser(env: Env, tenant: Tenant) -> None:
    first, portal = await _signed_in(env, tenant)
    second, _ = await _signed_in(env, tenant)

    ended = await sessions.sign_out_everywhere(env, portal, visitor=VISITOR)

    assert ended == 2
    assert await sessions.current(env, first) is None
    assert await sessions.current(env, second) is None
    [event] = await audit_events(env, org_id=tenant.org_id, action="recipient.signed_out")
    assert event.details == {"sessions": 2}


# -- what the portal shows -----------------------------------------------------------------


async def test_the_list_holds_direct_and_space_documents_newest_first(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    _, portal = await _signed_in(env, tenant)
    space = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Annual accounts",
        client_id=tenant.client_id, member_ids=[tenant.recipient_id],
    )  # fmt: skip
    clock.at += timedelta(minutes=1)
    annex = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Annex")
    await sharing.share_with_space(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(annex), space_id=id_of(space)
    )

    listing = await documents.documents(env, portal, filters=Filters())

    assert [(i.document.title, i.space) for i in listing.items] == [
        ("Annex", "Annual accounts"),
        ("Fee table", None),
    ]
    assert listing.spaces == [(id_of(space), "Annual accounts")]
    only_space = await documents.documents(env, portal, filters=Filters(space_id=id_of(space)))
    assert [i.document.title for i in only_space.items] == ["Annex"]
    by_words = await documents.documents(env, portal, filters=Filters(words="fee"))
    assert [i.document.title for i in by_words.items] == ["Fee table"]


async def test_not_opened_yet_leaves_out_what_was_opened(env: Env, tenant: Tenant) -> None:
    _, portal = await _signed_in(env, tenant)
    opened = await _share(env, tenant, title="Opened letter")
    await access.open_shared(env, opened, VISITOR)

    listing = await documents.documents(env, portal, filters=Filters(unopened=True))

    assert [i.document.title for i in listing.items] == ["Fee table"]
    everything = await documents.documents(env, portal, filters=Filters())
    assert {i.document.title: i.opened for i in everything.items} == {
        "Opened letter": True,
        "Fee table": False,
    }


async def test_a_shared_cabinet_shows_colleagues_documents_unless_only_mine(
    env: Env, tenant: Tenant
) -> None:
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    bert = await add_person(env, tenant, name="Bert Colleague", email="bert@acme-client.test")
    await _share(env, tenant, title="Bert's contract", recipient_id=bert)
    _, portal = await _signed_in(env, tenant)

    everyone = await documents.documents(env, portal, filters=Filters())
    mine = await documents.documents(env, portal, filters=Filters(only_mine=True))
    berts = await documents.documents(env, portal, filters=Filters(colleague="bert@"))

    assert everyone.cabinet is True
    assert [(i.document.title, i.addressee) for i in everyone.items] == [
        ("Fee table", None),
        ("Bert's contract", "Bert Colleague"),
    ]
    assert [i.document.title for i in mine.items] == ["Fee table"]
    assert [i.document.title for i in berts.items] == ["Bert's contract"]


async def test_the_list_is_paged(env: Env, tenant: Tenant) -> None:
    _, portal = await _signed_in(env, tenant)
    for n in range(documents.PER_PAGE):
        await _share(env, tenant, title=f"Letter {n}")

    first = await documents.documents(env, portal, filters=Filters())
    second = await documents.documents(env, portal, filters=Filters(), page=2)

    assert (first.total, first.pages, len(first.items)) == (documents.PER_PAGE + 1, 2, 20)
    assert [i.document.title for i in second.items] == ["Fee table"]


async def test_a_document_opens_on_a_personal_link_of_the_recipients_own(
    env: Env, tenant: Tenant
) -> None:
    _, portal = await _signed_in(env, tenant)
    [item] = (await documents.documents(env, portal, filters=Filters())).items

    token = await documents.open_document(env, portal, share_id=item.share_id)

    found = await access.resolve(env, token)
    assert found.recipient is not None and found.recipient.id == tenant.recipient_id


async def test_another_recipients_or_organisations_share_is_not_found(
    env: Env, tenant: Tenant
) -> None:
    _, portal = await _signed_in(env, tenant)
    other = await add_person(env, tenant, name="Olga Other")
    theirs = await access.resolve(
        env, await _share(env, tenant, title="Olga's", recipient_id=other)
    )
    elsewhere = await make_tenant(env, slug="globex")
    far = await access.resolve(env, await _share(env, elsewhere, title="Globex letter"))

    for share_id in (id_of(theirs.share), id_of(far.share)):
        with pytest.raises(NotFound, match="not among yours"):
            await documents.open_document(env, portal, share_id=share_id)
    listing = await documents.documents(env, portal, filters=Filters())
    assert [i.document.title for i in listing.items] == ["Fee table"]


# -- signature requests --------------------------------------------------------------------


async def test_requests_waiting_for_the_recipient_come_first_and_open_on_their_page(
    env: Env, tenant: Tenant
) -> None:
    _, portal = await _signed_in(env, tenant)
    org_id = tenant.org_id
    olga = await add_person(env, tenant, name="Olga Other")
    waiting = await request_signatures(
        env, tenant, NewParty(role="signer", recipient_id=tenant.recipient_id)
    )
    in_order = await creation.create_request(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=[id_of(await upload(env, org_id=org_id, client_id=tenant.client_id))],
            parties=[
                NewParty(role="signer", recipient_id=olga),
                NewParty(role="approver", recipient_id=tenant.recipient_id),
            ],
            order="sequential",
        ),
    )  # fmt: skip
    theirs = await request_signatures(env, tenant, NewParty(role="signer", recipient_id=olga))

    asked = await portal_requests.requests_of(env, portal)

    assert [i.request.id for i in asked.waiting] == [waiting.request.id]
    assert [(i.request.id, i.your_turn) for i in asked.others] == [(in_order.request.id, False)]
    token = await portal_requests.open_request(env, portal, party_id=asked.waiting[0].party_id)
    page = await party_page.open_page(env, token, browser=None)
    assert page.party.recipient_id == tenant.recipient_id
    [olgas] = [p for p in theirs.parties if p.party.recipient_id == olga]
    with pytest.raises(NotFound, match="not among yours"):
        await portal_requests.open_request(env, portal, party_id=id_of(olgas.party))


# -- sending a document back ---------------------------------------------------------------


async def test_a_document_sent_back_is_filed_for_the_client_and_staff_are_told(
    env: Env, tenant: Tenant
) -> None:
    _, portal = await _signed_in(env, tenant)

    document = await inbox.return_from(
        env, portal.recipient, filename="signed-contract.pdf",
        content=chunks(make_pdf("Signed contract")), caption="Signed contract",
        actor=sessions.recipient_actor(portal.recipient, VISITOR),
    )  # fmt: skip

    assert (document.direction, document.client_id) == ("inbound", tenant.client_id)
    [notice] = await stored_notifications(env, kind=Kind.DOCUMENT_RETURNED)
    assert notice.payload["document_id"] == document.id
    [event] = await audit_events(env, org_id=tenant.org_id, action="document.returned")
    assert event.actor_type == "recipient" and event.ip == VISITOR.ip
