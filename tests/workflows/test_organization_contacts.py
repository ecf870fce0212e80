"""How clients reach an organisation: contacts set by staff (checked, recorded, cleared),
and the organisation found behind any link Inkpost sent, whatever state it is in."""

from __future__ import annotations

import re

import pytest

from storage.rows import id_of
from tests.conftest import STAFF, Tenant, make_tenant
from tests.helpers import audit_events, upload
from tests.web_sign.signing_helpers import envelope
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.outbox.kinds import Preference
from workflows.people import organizations, preferences
from workflows.people.organizations import Contact, contact_behind
from workflows.portal import sessions
from workflows.sharing import access, links, sharing
from workflows.signing.creation import NewParty

ACME = Contact(name="Acme Law", email="office@acme.test", phone="+46 8 123 456 78")


async def _contacts(env: Env, tenant: Tenant) -> tuple[str | None, str | None]:
    org = await organizations.get_organization(env, slug="acme")
    assert org.id == tenant.org_id
    return org.contact_email, org.contact_phone


async def test_an_organisation_is_created_with_its_contacts_recorded(env: Env) -> None:
    org = await organizations.create_organization(
        env,
        slug="acme",
        name="Acme Law",
        actor=STAFF,
        contact_email=" office@acme.test ",
        contact_phone="+46  8 123 456 78",
    )

    assert (org.contact_email, org.contact_phone) == ("office@acme.test", "+46 8 123 456 78")
    [created] = await audit_events(env, org_id=id_of(org), action="organization.created")
    assert created.details["contact_email"] == "office@acme.test"
    assert created.details["contact_phone"] == "+46 8 123 456 78"


async def test_contacts_are_set_changed_and_cleared_with_a_history_event_each(
    env: Env, tenant: Tenant
) -> None:
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email="office@acme.test", phone="+46 8 123"
    )
    await organizations.set_contacts(env, org_id=tenant.org_id, actor=STAFF, phone="(08) 555-12")
    assert await _contacts(env, tenant) == ("office@acme.test", "(08) 555-12")

    await organizations.set_contacts(env, org_id=tenant.org_id, actor=STAFF, email="")
    again = await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, phone="(08) 555-12"
    )

    assert (again.contact_email, again.contact_phone) == (None, "(08) 555-12")
    events = await audit_events(env, org_id=tenant.org_id, action="organization.contacts_set")
    assert [e.details["changed"] for e in events] == [
        {"contact_email": "office@acme.test", "contact_phone": "+46 8 123"},
        {"contact_phone": "(08) 555-12"},
        {"contact_email": None},
    ]


@pytest.mark.parametrize(
    ("email", "phone", "message"),
    [
        ("office", None, "'office' is not an email address clients can write to"),
        ("office@acme", None, "not an email address"),
        ("office@acme.test?subject=hi", None, "not an email address"),
        ("two words@acme.test", None, "not an email address"),
        ("office@acme.test\u202e", None, "not an email address"),
        (None, "call us", "'call us' is not a phone number: use digits, spaces, +, -, ( and )"),
        (None, "+46 8 123 456 78 ext. 9", "not a phone number"),
        (None, "12", "not a phone number"),
        (None, "1" * 33, "up to 32 characters"),
    ],
)
async def test_bad_contacts_are_refused_and_change_nothing(
    env: Env, tenant: Tenant, email: str | None, phone: str | None, message: str
) -> None:
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email=ACME.email, phone=ACME.phone
    )
    before = await audit_events(env, org_id=tenant.org_id)

    with pytest.raises(InvalidInput, match=re.escape(message)):
        await organizations.set_contacts(
            env, org_id=tenant.org_id, actor=STAFF, email=email, phone=phone
        )
    with pytest.raises(InvalidInput, match=re.escape(message)):
        await organizations.create_organization(
            env, slug="globex", name="Globex", actor=STAFF, contact_email=email, contact_phone=phone
        )

    assert await _contacts(env, tenant) == (ACME.email, ACME.phone)
    assert len(await audit_events(env, org_id=tenant.org_id)) == len(before)
    assert [o.slug for o in await organizations.list_organizations(env)] == ["acme"]


async def test_every_kind_of_link_leads_to_its_organisation_even_when_it_no_longer_works(
    env: Env, tenant: Tenant
) -> None:
    await organizations.set_contacts(
        env, org_id=tenant.org_id, actor=STAFF, email=ACME.email, phone=ACME.phone
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    public = await links.create_link(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document)
    )
    personal = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    request = await envelope(
        env, tenant, [NewParty(role="signer", recipient_id=tenant.recipient_id)]
    )
    unsubscribe = await preferences.mint_unsubscribe(
        env, recipient_id=tenant.recipient_id, kind=Preference.REMINDER
    )
    assert public.token is not None and personal.token is not None
    opened = await sessions.open_from_link(env, personal.token, visitor=access.Visitor())
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=id_of(public.share))

    for token in (public.token, personal.token, request.tokens["Rita Recipient"], unsubscribe):
        assert await contact_behind(env, token=token) == ACME
    assert await contact_behind(env, portal_session=opened.token) == ACME
    assert await contact_behind(env, token=opened.token) is None  # a session is not a link


async def test_a_link_that_belongs_to_nothing_leads_to_no_organisation(
    env: Env, tenant: Tenant
) -> None:
    globex = await make_tenant(env, slug="globex")
    document = await upload(env, org_id=globex.org_id, client_id=globex.client_id)
    theirs = await links.create_link(
        env, org_id=globex.org_id, actor=STAFF, document_id=id_of(document)
    )
    assert theirs.token is not None

    assert await contact_behind(env, token="A" * 32) is None
    assert await contact_behind(env, token="not a token") is None
    assert await contact_behind(env, token=None, portal_session=None) is None
    assert await contact_behind(env, portal_session="B" * 32) is None
    found = await contact_behind(env, token=theirs.token)
    assert found == Contact(name="Globex Law", email=None, phone=None)


def test_a_phone_number_dials_as_a_plus_and_digits() -> None:
    assert Contact("Acme", None, "+46 (8) 123-456 78").dial == "+46812345678"
    assert Contact("Acme", None, "(08) 123 45").dial == "0812345"
    assert Contact("Acme", "office@acme.test", None).dial is None
