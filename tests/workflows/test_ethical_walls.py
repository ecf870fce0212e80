"""Ethical walls: a staff member limited to named clients finds, lists, counts and acts on
nothing of any other client, as if it did not exist; lifting the wall gives it back."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import select

from storage.models import AuditEvent, Notification, Organization, Share
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import audit_events, count_rows, request_status, upload
from workflows import audit, lookup, outbox, overview
from workflows.context import Actor, Env
from workflows.documents import filing, search
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotFound
from workflows.outbox import claims
from workflows.people import client_access, groups, organizations, recipients, spaces, staff
from workflows.sharing import access, links, sharing, staff_notices
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms
from workflows.signing import creation, requests
from workflows.signing.creation import NewParty, NewRequest

VISITOR = Visitor(ip="198.51.100.7", user_agent="Phone/1.0")


@dataclass(frozen=True)
class Firm:
    """Nordic Timber (the tenant's client, inside Wanda's wall) and Acme Holdings."""

    ours: int
    theirs: int
    our_person: int
    their_person: int
    our_document: int
    their_document: int
    their_ref: str
    wanda: int
    walled: Env


@pytest.fixture
async def firm(env: Env, tenant: Tenant) -> Firm:
    acme = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Acme Holdings"
    )
    theirs = id_of(acme)
    anders = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=theirs, name="Anders Acme"
    )
    their_person = id_of(anders)
    ours = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="Fee table")
    their = await upload(env, org_id=tenant.org_id, client_id=theirs, title="Fee table Acme")
    wanda = await organizations.add_staff(
        env, org_id=tenant.org_id, actor=STAFF, name="Wanda Wall", slack_user_id="U0WANDA"
    )
    limited = await client_access.limit_staff(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=id_of(wanda),
        client_ids=[tenant.client_id],
    )  # fmt: skip
    return Firm(
        ours=tenant.client_id,
        theirs=theirs,
        our_person=tenant.recipient_id,
        their_person=their_person,
        our_document=id_of(ours),
        their_document=id_of(their),
        their_ref=their.ref,
        wanda=id_of(wanda),
        walled=env.walled(limited.wall),
    )


def _wanda(firm: Firm) -> Actor:
    return Actor.staff(firm.wanda, "Wanda Wall")


def _both(firm: Firm) -> list[tuple[int, int]]:
    """(document, recipient) of Nordic Timber, then of Acme Holdings."""
    return [(firm.our_document, firm.our_person), (firm.their_document, firm.their_person)]


# -- setting the wall ----------------------------------------------------------------------


async def test_limiting_is_recorded_once_and_the_member_sees_only_those_clients(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    again = await client_access.limit_staff(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=firm.wanda, client_ids=[firm.ours]
    )

    [event] = await audit_events(env, org_id=tenant.org_id, action="staff.limited")
    assert event.details == {
        "staff_id": firm.wanda,
        "name": "Wanda Wall",
        "client_ids": [firm.ours],
    }
    assert again.names == "Nordic Timber"
    shown = await client_access.client_access(env, org_id=tenant.org_id, staff_id=firm.wanda)
    assert shown.wall is not None and shown.wall.client_ids == {firm.ours}


@pytest.mark.parametrize(
    ("change", "refusal", "error"),
    [
        (
            {"client_ids": []},
            "name at least one client, or let them see every client",
            InvalidInput,
        ),
        ({"client_ids": [999]}, "client 999 not found", NotFound),
    ],
)
async def test_a_wall_without_a_real_client_is_refused_and_nothing_changes(
    env: Env, tenant: Tenant, firm: Firm, change: dict[str, list[int]], refusal: str,
    error: type[Exception],
) -> None:  # fmt: skip
    before = len(await audit_events(env, org_id=tenant.org_id))

    with pytest.raises(error, match=refusal):
        await client_access.limit_staff(
            env, org_id=tenant.org_id, actor=STAFF, staff_id=firm.wanda, **change
        )

    assert len(await audit_events(env, org_id=tenant.org_id)) == before
    shown = await client_access.client_access(env, org_id=tenant.org_id, staff_id=firm.wanda)
    assert shown.names == "Nordic Timber"


async def test_an_administrator_cannot_be_walled(env: Env, tenant: Tenant) -> None:
    boss = await organizations.add_staff(
        env, org_id=tenant.org_id, actor=STAFF, name="Bo Boss", role="admin"
    )

    with pytest.raises(Conflict, match="Bo Boss is an administrator and sees every client"):
        await client_access.limit_staff(
            env, org_id=tenant.org_id, actor=STAFF, staff_id=id_of(boss),
            client_ids=[tenant.client_id],
        )  # fmt: skip


async def test_only_administrators_change_walls(env: Env, tenant: Tenant, firm: Firm) -> None:
    member = Actor.staff(tenant.staff_id, "Stella Staff")

    with pytest.raises(NotAllowed, match="only administrators may change which clients"):
        await client_access.limit_staff(
            env, org_id=tenant.org_id, actor=member, staff_id=firm.wanda, client_ids=None
        )
    with pytest.raises(NotAllowed, match="only administrators may change which clients"):
        await client_access.limit_staff(
            firm.walled, org_id=tenant.org_id, actor=STAFF, staff_id=firm.wanda, client_ids=None
        )


async def test_lifting_the_wall_gives_everything_back(env: Env, tenant: Tenant, firm: Firm) -> None:
    lifted = await client_access.limit_staff(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=firm.wanda, client_ids=None
    )

    assert lifted.clients is None and lifted.wall is None
    [event] = await audit_events(env, org_id=tenant.org_id, action="staff.unlimited")
    assert event.details["client_ids"] is None
    seen = env.walled(lifted.wall)
    assert len(await organizations.list_clients(seen, org_id=tenant.org_id)) == 2


# -- what a walled member sees -------------------------------------------------------------


async def test_lists_and_counts_hold_only_the_members_clients(tenant: Tenant, firm: Firm) -> None:
    env, org_id = firm.walled, tenant.org_id

    assert [c.name for c in await organizations.list_clients(env, org_id=org_id)] == [
        "Nordic Timber"
    ]
    assert [c.name for c in await organizations.find_clients(env, org_id=org_id, limit=9)] == [
        "Nordic Timber"
    ]
    assert [r.id for r in await recipients.list_recipients(env, org_id=org_id)] == [firm.our_person]
    assert [d.id for d in await filing.list_documents(env, org_id=org_id)] == [firm.our_document]
    found = await search.find_documents(
        env, org_id=org_id, query=search.SearchQuery(words="fee table")
    )
    assert [d.id for d in found] == [firm.our_document]
    assert await count_rows(env, AuditEvent) == len(
        [e for e in await audit_events(firm.walled, org_id=org_id) if e.document_id]
    )


async def test_another_clients_things_are_not_found_by_id_or_name(
    tenant: Tenant, firm: Firm
) -> None:
    env, org_id = firm.walled, tenant.org_id

    with pytest.raises(NotFound, match=f"document {firm.their_ref} not found"):
        await filing.find_document(env, org_id=org_id, ref=firm.their_ref)
    with pytest.raises(NotFound):
        await lookup.resolve(env, org_id=org_id, kind="recipient", value="Anders Acme")
    with pytest.raises(NotFound):
        await lookup.resolve(env, org_id=org_id, kind="client", value="Acme Holdings")
    with pytest.raises(NotFound):
        await audit.document_history(env, org_id=org_id, document_id=firm.their_document)


async def test_groups_with_anyone_outside_and_other_clients_spaces_are_not_there(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    org_id = tenant.org_id
    await groups.create_group(
        env, org_id=org_id, actor=STAFF, name="Ours", member_ids=[firm.our_person]
    )
    await groups.create_group(
        env, org_id=org_id, actor=STAFF, name="Mixed",
        member_ids=[firm.our_person, firm.their_person],
    )  # fmt: skip
    await spaces.create_space(
        env, org_id=org_id, actor=STAFF, name="Acme panel", client_id=firm.theirs,
        member_ids=[firm.their_person],
    )  # fmt: skip
    await spaces.create_space(
        env, org_id=org_id, actor=STAFF, name="Timber panel", client_id=firm.ours,
        member_ids=[firm.our_person],
    )  # fmt: skip

    listed = await groups.list_groups(firm.walled, org_id=org_id)
    assert [(g.group.name, g.members) for g in listed] == [("Ours", 1)]
    assert [s.space.name for s in await spaces.list_spaces(firm.walled, org_id=org_id)] == [
        "Timber panel"
    ]
    with pytest.raises(NotFound):
        await lookup.resolve(firm.walled, org_id=org_id, kind="group", value="Mixed")


async def test_a_name_used_behind_the_wall_is_still_refused_cleanly(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", member_ids=[firm.their_person]
    )

    with pytest.raises(Conflict, match="a group named 'Board' already exists"):
        await groups.create_group(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm), name="Board"
        )


async def test_signature_requests_of_other_clients_are_not_there(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    theirs, ours = [
        await creation.create_request(
            env,
            org_id=tenant.org_id,
            actor=STAFF,
            staff_id=tenant.staff_id,
            new=NewRequest(
                document_ids=[document_id],
                parties=[NewParty(role="signer", recipient_id=person)],
            ),
        )  # fmt: skip
        for document_id, person in _both(firm)[::-1]
    ]

    listed = await requests.list_requests(firm.walled, org_id=tenant.org_id)
    assert [r.id for r in listed] == [ours.request.id]
    with pytest.raises(NotFound):
        await requests.request_state(firm.walled, org_id=tenant.org_id, ref=theirs.request.ref)
    with pytest.raises(NotFound):
        await requests.cancel_request(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm), ref=theirs.request.ref
        )
    assert await request_status(env, theirs.request.id) == "pending"


# -- what a walled member does -------------------------------------------------------------


async def test_sharing_across_the_wall_finds_nothing_and_writes_nothing(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    before = len(await audit_events(env, org_id=tenant.org_id))

    with pytest.raises(NotFound):
        await sharing.share_with_recipient(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm),
            document_id=firm.their_document, recipient_id=firm.our_person,
        )  # fmt: skip
    with pytest.raises(NotFound):
        await sharing.share_with_recipient(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm),
            document_id=firm.our_document, recipient_id=firm.their_person,
            terms=ShareTerms(across_clients=True),
        )  # fmt: skip
    with pytest.raises(NotFound):
        await links.create_link(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm),
            document_id=firm.their_document, terms=ShareTerms(),
        )  # fmt: skip

    assert await count_rows(env, Share) == 0 and await count_rows(env, Notification) == 0
    assert len(await audit_events(env, org_id=tenant.org_id)) == before


async def test_inside_the_wall_work_goes_on_as_usual(env: Env, tenant: Tenant, firm: Firm) -> None:
    shared = await sharing.share_with_recipient(
        firm.walled, org_id=tenant.org_id, actor=_wanda(firm),
        document_id=firm.our_document, recipient_id=firm.our_person,
    )  # fmt: skip
    uploaded = await upload(firm.walled, org_id=tenant.org_id, client_id=firm.ours, title="Letter")

    assert shared.created and uploaded.client_id == firm.ours
    assert await audit.verify_chain(env, org_id=tenant.org_id)


async def test_a_walled_member_cannot_file_for_another_client_or_make_clients(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    with pytest.raises(NotFound, match=f"client {firm.theirs} not found"):
        await upload(firm.walled, org_id=tenant.org_id, client_id=firm.theirs)
    with pytest.raises(NotAllowed, match="only staff who see every client may add clients"):
        await organizations.add_client(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm), name="Brand New"
        )
    with pytest.raises(InvalidInput, match="name the client the space is for"):
        await spaces.create_space(
            firm.walled, org_id=tenant.org_id, actor=_wanda(firm), name="Loose"
        )
    assert len(await filing.list_documents(env, org_id=tenant.org_id)) == 2


async def test_the_storage_quota_counts_every_clients_documents(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    both = sum(d.size for d in await filing.list_documents(env, org_id=tenant.org_id))
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.storage_quota_bytes = both + 10

    with pytest.raises(InvalidInput, match="storage quota would be exceeded"):
        await upload(firm.walled, org_id=tenant.org_id, client_id=firm.ours)


@pytest.mark.parametrize(
    "refused",
    [
        lambda env, org: outbox.list_notifications(env, org_id=org),
        lambda env, org: claims.list_dead(env, org_id=org),
        lambda env, org: claims.retry_dead(env, org_id=org),
        lambda env, org: audit.verify_chain(env, org_id=org),
        lambda env, org: organizations.add_staff(env, org_id=org, actor=STAFF, name="X"),
    ],
    ids=["outbox", "dead", "retry", "verify", "add staff"],
)
async def test_what_spans_every_client_is_refused_behind_a_wall(
    tenant: Tenant, firm: Firm, refused: object
) -> None:
    with pytest.raises(NotAllowed, match="only staff who see every client may"):
        await refused(firm.walled, tenant.org_id)  # type: ignore[operator]


# -- the App Home and notices ---------------------------------------------------------------


async def test_the_overview_shows_only_the_members_clients(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    for document_id, person in _both(firm):
        await sharing.share_with_recipient(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document_id, recipient_id=person
        )

    everyone = await overview.overview(env, org_id=tenant.org_id)
    walled = await overview.overview(firm.walled, org_id=tenant.org_id)

    assert everyone.unopened_total == 2
    assert [u.document.id for u in walled.unopened] == [firm.our_document]
    assert walled.unopened_total == 1 and walled.failed_total == 0


async def test_a_walled_member_hears_nothing_about_another_client(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    tokens = []
    for document_id, person in _both(firm):
        shared = await sharing.share_with_recipient(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document_id,
            recipient_id=person, terms=ShareTerms(staff_id=firm.wanda),
        )  # fmt: skip
        assert shared.token is not None
        tokens.append(shared.token)
    for token in tokens:
        await access.open_shared(env, token, VISITOR)
    async with env.reads() as session:
        rows = (
            await session.exec(
                select(Notification)
                .where(Notification.channel == "slack")
                .order_by(Notification.id)
            )
        ).all()

    ours, theirs = await staff_notices.prepare(env, rows)

    assert ours.destination is not None and ours.destination.slack_id == "U0WANDA"
    assert theirs.destination is None
    assert theirs.reason == (
        "Wanda Wall may not see this client and the organisation has no Slack channel for notices"
    )


async def test_a_walled_member_in_slack_works_behind_the_wall(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    async with env.sessions() as session, session.begin():
        org = await session.get(Organization, tenant.org_id)
        assert org is not None
        org.slack_team_id = "T0FIRM"

    context = await staff.staff_of_slack(env, team_id="T0FIRM", user_id="U0WANDA")

    assert context.env.wall is not None and context.env.wall.client_ids == {firm.ours}
    assert [
        c.name for c in await organizations.list_clients(context.env, org_id=context.org_id)
    ] == ["Nordic Timber"]
