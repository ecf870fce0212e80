"""`inkpost demo`: a demo organisation with a client, a recipient and a shared fee table.

Running it again reuses what an earlier run made and only creates a fresh link (a link's
token is shown once, when it is made).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from inkpost.runtime import Runtime
from inkpost.sample_pdf import make_pdf
from storage.models import Client, Document, Organization, Recipient
from storage.rows import id_of
from workflows.context import Actor, Env
from workflows.documents import filing
from workflows.people import organizations, recipients
from workflows.sharing import links, sharing

DEMO_SLUG = "demo"
DEMO_ORG = "Demo Law Office"
DEMO_CONTACT_EMAIL = "office@demo-law.example"
DEMO_CONTACT_PHONE = "+46 8 123 456 78"
DEMO_CLIENT = "Nordic Timber AB"
DEMO_RECIPIENT = "Rita Recipient"
DEMO_TITLE = "Fee table 2027"
DEMO_ACTOR = Actor.system("demo")
FEE_LINES = (
    "Service                                   Unit          Fee (EUR)",
    "Initial consultation                      per hour         180.00",
    "Contract review (up to 20 pages)          flat             950.00",
    "Contract drafting                         per hour         220.00",
    "Company registration                      flat           1 400.00",
    "Annual compliance report                  flat           2 100.00",
    "Court representation                      per day        1 800.00",
    "Travel outside the city                   per km             0.60",
    "",
    "All fees exclude VAT. Valid from 1 January 2027 to 31 December 2027.",
    "Invoices are payable within 14 days of issue.",
)


@dataclass(frozen=True)
class DemoSetup:
    organization: Organization
    document: Document
    url: str
    reused: bool


async def prepare_demo(runtime: Runtime) -> DemoSetup:
    """Find or make the demo tenant and document, then create a new public link to it."""
    env = runtime.env
    org, reused = await _organization(env)
    org_id = id_of(org)
    client = await _client(env, org_id)
    client_id = id_of(client)
    recipient = await _recipient(env, org_id=org_id, client_id=client_id)
    document = await _document(env, org_id=org_id, client_id=client_id)
    document_id = id_of(document)
    if recipients.can_receive(recipient, env.clock.now()) is None:
        await sharing.share_with_recipient(
            env,
            org_id=org_id,
            actor=DEMO_ACTOR,
            document_id=document_id,
            recipient_id=id_of(recipient),
        )
    link = await links.create_link(
        env,
        org_id=org_id,
        actor=DEMO_ACTOR,
        document_id=document_id,
        terms=sharing.ShareTerms(message="Our fees for 2027, as agreed."),
    )
    assert link.token is not None
    url = f"{runtime.settings.public_url.rstrip('/')}/d/{link.token}"
    return DemoSetup(organization=org, document=document, url=url, reused=reused)


async def _organization(env: Env) -> tuple[Organization, bool]:
    for org in await organizations.list_organizations(env):
        if org.slug == DEMO_SLUG:
            return org, True
    created = await organizations.create_organization(
        env,
        slug=DEMO_SLUG,
        name=DEMO_ORG,
        actor=DEMO_ACTOR,
        contact_email=DEMO_CONTACT_EMAIL,
        contact_phone=DEMO_CONTACT_PHONE,
    )
    return created, False


async def _client(env: Env, org_id: int) -> Client:
    for client in await organizations.list_clients(env, org_id=org_id):
        if client.name == DEMO_CLIENT:
            return client
    return await organizations.add_client(env, org_id=org_id, actor=DEMO_ACTOR, name=DEMO_CLIENT)


async def _recipient(env: Env, *, org_id: int, client_id: int) -> Recipient:
    for recipient in await recipients.list_recipients(env, org_id=org_id, client_id=client_id):
        if recipient.name == DEMO_RECIPIENT:
            return recipient
    return await recipients.add_recipient(
        env,
        org_id=org_id,
        actor=DEMO_ACTOR,
        client_id=client_id,
        name=DEMO_RECIPIENT,
        email="rita@nordic-timber.example",
    )


async def _document(env: Env, *, org_id: int, client_id: int) -> Document:
    for document in await filing.list_documents(env, org_id=org_id, client_id=client_id):
        if document.title == DEMO_TITLE:
            return document
    pdf = make_pdf(DEMO_TITLE, pages=4, lines=FEE_LINES)

    async def content() -> AsyncIterator[bytes]:
        yield pdf

    return await filing.upload_document(
        env,
        org_id=org_id,
        actor=DEMO_ACTOR,
        meta=filing.NewDocument(
            title=DEMO_TITLE,
            category="fee table",
            client_id=client_id,
            filename="fee-table-2027.pdf",
        ),
        content=content(),
    )
