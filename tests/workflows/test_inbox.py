"""A recipient's documents as their chat sees them, and what they do from there."""

from __future__ import annotations

import pytest
from sqlmodel import select

from inkpost.sample_pdf import make_pdf
from storage.models import AuditEvent, Client, Document, Notification
from tests.conftest import STAFF, Tenant
from tests.helpers import blob_files, chunks, link_chat, upload
from workflows.context import Env
from workflows.errors import Gone, InvalidInput, NotFound
from workflows.people import preferences, recipients
from workflows.people.linking import ChatIdentity
from workflows.sharing import access, inbox, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms

RITA = ChatIdentity(chat_id=1001, user_id=1001)
CARL = ChatIdentity(chat_id=1002, user_id=1002)


async def _share(env: Env, tenant: Tenant, recipient_id: int, title: str) -> int:
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title=title,
        data=make_pdf(title, pages=1),
    )
    result = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=recipient_id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    assert result.share.id is not None
    return result.share.id


async def _colleague(env: Env, tenant: Tenant) -> int:
    carl = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Carl Colleague"
    )
    assert carl.id is not None
    await link_chat(env, tenant, chat=CARL, recipient_id=carl.id)
    return carl.id


async def test_documents_are_listed_newest_first_a_page_at_a_time(
    env: Env, tenant: Tenant, clock: object
) -> None:
    await link_chat(env, tenant, chat=RITA)
    for n in range(7):
        await _share(env, tenant, tenant.recipient_id, f"Statement {n}")
    first = await inbox.list_for_chat(env, chat_id=RITA.chat_id, per_page=5)
    second = await inbox.list_for_chat(env, chat_id=RITA.chat_id, page=2, per_page=5)
    assert (first.total, first.pages, second.page) == (7, 2, 2)
    titles = [i.document.title for i in first.items + second.items]
    assert titles == [f"Statement {n}" for n in reversed(range(7))]
    assert all(i.shared_by == "Stella Staff" and i.mine for i in first.items)


async def test_a_shared_cabinet_shows_colleagues_documents_with_an_only_mine_toggle(
    env: Env, tenant: Tenant
) -> None:
    carl = await _colleague(env, tenant)
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant, tenant.recipient_id, "For Rita")
    carls = await _share(env, tenant, carl, "For Carl")

    separate = await inbox.list_for_chat(env, chat_id=RITA.chat_id)
    assert [i.document.title for i in separate.items] == ["For Rita"]
    with pytest.raises(NotFound):
        await inbox.access_for_chat(env, chat_id=RITA.chat_id, share_id=carls)

    async with env.sessions() as session, session.begin():
        client = await session.get(Client, tenant.client_id)
        assert client is not None
        client.shared_cabinet = True
        session.add(client)

    together = await inbox.list_for_chat(env, chat_id=RITA.chat_id)
    assert together.shared_cabinet
    assert [(i.document.title, i.addressee, i.mine) for i in together.items] == [
        ("For Carl", "Carl Colleague", False),
        ("For Rita", "Rita Recipient", True),
    ]
    only_mine = await inbox.list_for_chat(env, chat_id=RITA.chat_id, only_mine=True)
    assert [i.document.title for i in only_mine.items] == ["For Rita"]
    # Rita downloads Carl's document: recorded as Rita, on Carl's behalf.
    await inbox.record_chat_download(env, chat_id=RITA.chat_id, share_id=carls)
    async with env.sessions() as session:
        event = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "document.downloaded"))
        ).one()
    assert (event.actor_label, event.details["on_behalf_of"]) == ("Rita Recipient", carl)


async def test_a_revoked_share_is_no_longer_available(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    share_id = await _share(env, tenant, tenant.recipient_id, "Annex")
    await sharing.revoke_share(env, org_id=tenant.org_id, actor=STAFF, share_id=share_id)
    with pytest.raises(Gone, match="no longer available"):
        await inbox.access_for_chat(env, chat_id=RITA.chat_id, share_id=share_id)
    assert (await inbox.list_for_chat(env, chat_id=RITA.chat_id)).total == 0


async def test_an_unlinked_chat_sees_nothing(env: Env, tenant: Tenant) -> None:
    share_id = await _share(env, tenant, tenant.recipient_id, "Annex")
    with pytest.raises(NotFound):
        await inbox.list_for_chat(env, chat_id=RITA.chat_id)
    with pytest.raises(NotFound):
        await inbox.access_for_chat(env, chat_id=RITA.chat_id, share_id=share_id)


async def test_a_personal_link_opens_as_that_recipient(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    share_id = await _share(env, tenant, tenant.recipient_id, "Contract")
    token = await inbox.personal_link(env, share_id=share_id, recipient_id=tenant.recipient_id)
    found = await access.open_shared(env, token, Visitor(ip="127.0.0.1"))
    assert found.recipient is not None and found.recipient.id == tenant.recipient_id
    await recipients.set_recipient_blocked(
        env, org_id=tenant.org_id, actor=STAFF, recipient_id=tenant.recipient_id, blocked=True
    )
    with pytest.raises(Exception, match="access"):
        await access.open_shared(env, token, Visitor(ip="127.0.0.1"))


async def test_a_returned_file_becomes_an_inbound_document_and_tells_the_sharer(
    env: Env, tenant: Tenant
) -> None:
    await link_chat(env, tenant, chat=RITA)
    await _share(env, tenant, tenant.recipient_id, "Contract")
    returned = await inbox.return_document(
        env,
        chat_id=RITA.chat_id,
        recipient_id=tenant.recipient_id,
        filename="signed-contract.pdf",
        content=chunks(make_pdf("Signed contract", pages=2)),
        caption="Signed, with comments",
    )
    assert (returned.direction, returned.title, returned.category) == (
        "inbound",
        "Signed, with comments",
        "other",
    )
    assert returned.uploaded_by_recipient_id == tenant.recipient_id
    async with env.sessions() as session:
        told = (
            await session.exec(select(Notification).where(Notification.channel == "slack"))
        ).one()
    assert (told.kind, told.target) == ("document.returned", f"staff:{tenant.staff_id}")


async def test_a_bad_returned_file_is_refused_and_keeps_nothing(
    env: Env, tenant: Tenant, tmp_path: object
) -> None:
    await link_chat(env, tenant, chat=RITA)
    with pytest.raises(InvalidInput, match="not accepted"):
        await inbox.return_document(
            env,
            chat_id=RITA.chat_id,
            recipient_id=tenant.recipient_id,
            filename="virus.exe",
            content=chunks(b"MZ\x90\x00" + bytes(range(256)) * 4),
        )
    async with env.sessions() as session:
        assert (await session.exec(select(Document))).all() == []
        assert (await session.exec(select(Notification))).all() == []
    assert blob_files(tmp_path / "blobs") == []  # type: ignore[operator]


async def test_language_and_notification_choices(env: Env, tenant: Tenant) -> None:
    await link_chat(env, tenant, chat=RITA)
    [person] = await inbox.set_language(env, chat_id=RITA.chat_id, language="sv")
    assert person.language == "sv"
    with pytest.raises(InvalidInput, match="language must be one of"):
        await inbox.set_language(env, chat_id=RITA.chat_id, language="xx")
    [person] = await inbox.set_notification(
        env, chat_id=RITA.chat_id, kind="reminder", enabled=False
    )
    assert not preferences.wants(person, "reminder")
    assert preferences.wants(person, "document.shared")
    with pytest.raises(InvalidInput, match="unknown kind"):
        await inbox.set_notification(env, chat_id=RITA.chat_id, kind="spam", enabled=True)
