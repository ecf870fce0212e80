"""News of a shared cabinet is one more kind of notification a recipient switches per
channel in their portal, named in their language."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from storage.models import Recipient
from storage.rows import id_of
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from workflows.context import Env
from workflows.outbox.kinds import Preference, Via
from workflows.people import organizations, preferences
from workflows.sharing import sharing


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, html
    return found.group(1)


async def test_the_portal_switches_cabinet_news_off_by_mail_under_its_own_name(
    client: TestClient, env: Env, tenant: Tenant
) -> None:
    await preferences.set_language(
        env, recipient_id=tenant.recipient_id, org_id=tenant.org_id, actor=STAFF, language="pl"
    )
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
    made = await sharing.share_with_recipient(
        env, org_id=tenant.org_id, actor=STAFF, document_id=id_of(document),
        recipient_id=tenant.recipient_id,
    )  # fmt: skip
    page = await (await client.get(f"/d/{made.token}")).text()
    await client.post(f"/d/{made.token}/me", data={"csrf": _csrf(page)})
    html = await (await client.get("/me")).text()

    assert '<th scope="row">Nowości we wspólnej szafie</th>' in html
    assert re.search(r'value="email:cabinet" aria-label="[^"]*" checked', html)
    boxes = re.findall(r'name="on" value="([a-z:._]+)"', html)
    kept = [box for box in boxes if box != "email:cabinet"]
    saved = await client.post(
        "/me/notifications", data=[("csrf", _csrf(html)), *(("on", box) for box in kept)],
        allow_redirects=False,
    )  # fmt: skip

    assert saved.status == 303
    async with env.reads() as session:
        rita = await session.get(Recipient, tenant.recipient_id)
    assert rita is not None
    assert not preferences.wants(rita, Preference.CABINET, Via.EMAIL)
    assert all(
        preferences.wants(rita, kind, Via.EMAIL)
        for kind in preferences.KINDS
        if kind != Preference.CABINET
    )
