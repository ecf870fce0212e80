"""A client's documents go to that client's people: another client's recipients, spaces
and groups only on purpose, recorded; a group that mixes clients never."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from storage.models import Notification, Recipient, Share, SignatureRequest
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import audit_events, count_rows, upload
from workflows.context import Env
from workflows.errors import NotAllowed
from workflows.people import groups, organizations, recipients, spaces
from workflows.sharing import sharing, targets
from workflows.sharing.targets import AcrossClients
from workflows.signing import creation
from workflows.signing.creation import NewParty, NewRequest

ON_PURPOSE = sharing.ShareTerms(across_clients=True)


@dataclass(frozen=True)
class Firm:
    document_id: int
    document_ref: str
    ours: int
    """A recipient of the document's client."""
    theirs: int
    """A recipient of another client, Nordic Family Trust."""
    nordic: int


@pytest.fixture
async def firm(env: Env, tenant: Tenant) -> Firm:
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    nordic = await organizations.add_client(
        env, org_id=tenant.org_id, actor=STAFF, name="Nordic Family Trust"
    )
    theirs = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=id_of(nordic), name="Nils Nordic"
    )
    return Firm(id_of(document), document.ref, tenant.recipient_id, id_of(theirs), id_of(nordic))


async def test_another_clients_recipient_is_refused_and_nothing_is_written(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    before = len(await audit_events(env, org_id=tenant.org_id))

    with pytest.raises(AcrossClients) as refused:
        await sharing.share_with_recipient(
            env, org_id=tenant.org_id, actor=STAFF, document_id=firm.document_id,
            recipient_id=firm.theirs,
        )  # fmt: skip

    assert str(refused.value) == (
        f"{firm.document_ref} belongs to Nordic Timber, and Nils Nordic is a recipient of "
        "Nordic Family Trust"
    )
    assert await count_rows(env, Share) == 0 and await count_rows(env, Notification) == 0
    assert len(await audit_events(env, org_id=tenant.org_id)) == before


async def test_on_purpose_the_share_is_made_and_its_history_names_the_other_client(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=firm.document_id,
        recipient_id=firm.theirs, terms=ON_PURPOSE,
    )  # fmt: skip
    ours = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=firm.document_id,
        recipient_id=firm.ours, terms=ON_PURPOSE,
    )  # fmt: skip

    assert made.created and ours.created
    events = await audit_events(env, org_id=tenant.org_id, action="document.shared")
    assert [e.details.get("across_clients") for e in events] == ["Nordic Family Trust", None]


async def test_a_group_of_another_clients_people_needs_purpose_and_a_mixed_one_is_refused(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    nordic_board = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Nordic board", member_ids=[firm.theirs]
    )
    everyone = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Everyone",
        member_ids=[firm.ours, firm.theirs],
    )  # fmt: skip
    share = {"org_id": tenant.org_id, "actor": STAFF, "document_id": firm.document_id}

    with pytest.raises(AcrossClients, match="group Nordic board holds people of Nordic"):
        await sharing.share_with_group(env, group_id=id_of(nordic_board), **share)
    for terms in (None, ON_PURPOSE):
        with pytest.raises(NotAllowed, match=r"group Everyone mixes people of several clients"):
            await sharing.share_with_group(env, group_id=id_of(everyone), terms=terms, **share)
    assert await count_rows(env, Share) == 0 and await count_rows(env, Notification) == 0

    shared = await sharing.share_with_group(
        env, group_id=id_of(nordic_board), terms=ON_PURPOSE, **share
    )
    assert [s.share.recipient_id for s in shared.shares] == [firm.theirs]


async def test_spaces_of_another_client_or_of_none_need_purpose(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    theirs = await spaces.create_space(
        env, org_id=tenant.org_id, actor=STAFF, name="Nordic panel", client_id=firm.nordic
    )
    lobby = await spaces.create_space(env, org_id=tenant.org_id, actor=STAFF, name="Lobby")
    share = {"org_id": tenant.org_id, "actor": STAFF, "document_id": firm.document_id}

    with pytest.raises(AcrossClients, match="space Nordic panel belongs to Nordic Family Trust"):
        await sharing.share_with_space(env, space_id=id_of(theirs), **share)
    with pytest.raises(AcrossClients, match="space Lobby belongs to no client"):
        await sharing.share_with_space(env, space_id=id_of(lobby), **share)
    assert await count_rows(env, Share) == 0

    await sharing.share_with_space(env, space_id=id_of(lobby), terms=ON_PURPOSE, **share)
    [event] = await audit_events(env, org_id=tenant.org_id, action="document.shared")
    assert event.details["across_clients"] == "no client"


async def test_checking_targets_says_which_refusals_purpose_would_lift(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    everyone = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Everyone",
        member_ids=[firm.ours, firm.theirs],
    )  # fmt: skip
    wanted = {
        "org_id": tenant.org_id,
        "document_id": firm.document_id,
        "recipient_ids": [firm.ours, firm.theirs],
        "group_ids": [id_of(everyone)],
    }

    plain = await targets.check_targets(env, **wanted)
    on_purpose = await targets.check_targets(env, across_clients=True, **wanted)

    assert len(plain.recipients) == 1 and plain.across_clients == plain.recipients
    assert plain.groups[0].startswith("group Everyone mixes people of several clients")
    assert on_purpose.recipients == [] and on_purpose.across_clients == []
    assert on_purpose.groups == plain.groups


async def test_a_removed_member_of_another_client_does_not_make_a_group_mixed(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    board = await groups.create_group(
        env, org_id=tenant.org_id, actor=STAFF, name="Board", member_ids=[firm.ours, firm.theirs]
    )
    async with env.sessions() as session, session.begin():
        nils = await session.get(Recipient, firm.theirs)
        assert nils is not None
        nils.status = "deleted"
        session.add(nils)

    shared = await sharing.share_with_group(
        env, org_id=tenant.org_id, actor=STAFF, document_id=firm.document_id,
        group_id=id_of(board),
    )  # fmt: skip

    assert [s.share.recipient_id for s in shared.shares] == [firm.ours]
    assert shared.skipped == ["recipient Nils Nordic was removed"]


async def test_a_signature_request_goes_to_another_clients_recipient_only_on_purpose(
    env: Env, tenant: Tenant, firm: Firm
) -> None:
    parties = [
        NewParty(role="signer", recipient_id=firm.ours),
        NewParty(role="approver", recipient_id=firm.theirs),
        NewParty(role="signer", name="Outside Counsel", email="counsel@example.test"),
    ]
    new = NewRequest(document_ids=[firm.document_id], parties=parties)

    with pytest.raises(AcrossClients, match="Nils Nordic is a recipient of Nordic Family Trust"):
        await creation.create_request(
            env, org_id=tenant.org_id, actor=STAFF, staff_id=None, new=new
        )
    assert await count_rows(env, SignatureRequest) == 0

    created = await creation.create_request(
        env, org_id=tenant.org_id, actor=STAFF, staff_id=None,
        new=dataclasses.replace(new, across_clients=True),
    )  # fmt: skip
    assert len(created.parties) == 3
    [event] = await audit_events(env, org_id=tenant.org_id, action="signature.requested")
    assert event.details["across_clients"] == ["Nordic Family Trust"]
