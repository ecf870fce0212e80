"""A request whose document carried a signature before: once sealed, the signing page
offers the completion certificate, a sealed PDF of its own, beside the signed PDF."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import STAFF, Tenant
from tests.helpers import sealed_documents, upload
from tests.web_sign.signing_helpers import link_only
from tests.workflows.pdf_inputs import signed_pdf
from tests.workflows.test_completion import WEB
from workflows.context import Env
from workflows.signing import completion, creation, deciding, party_page
from workflows.signing.creation import NewRequest
from workflows.signing.deciding import Decision
from workflows.signing.seal_keys import create_self_signed_seal, load_seal_key


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_page_offers_the_certificate_beside_the_signed_pdf(
    client: TestClient, env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    notary = load_seal_key(*create_self_signed_seal(tmp_path / "notary", common_name="Notary"))
    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))
    data = await asyncio.to_thread(signed_pdf, notary)
    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id, data=data, title="Lease"
    )
    assert document.id is not None
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(document_ids=[document.id], parties=[link_only("Sam Signer")]),
    )
    [link] = created.parties
    await party_page.record_opened(env, link.token, document.id, actor=WEB)
    decision = Decision(kind="sign", typed_name="Sam Signer", consent=True)
    await deciding.decide(env, link.token, decision, actor=WEB)
    assert created.request.id is not None

    await completion.complete_request(env, created.request.id, key=seal)

    sealed, certificate = await sealed_documents(
        env, org_id=tenant.org_id, request_id=created.request.id
    )
    page = await (await client.get(f"/s/{link.token}")).text()
    offered = set(re.findall(rf"/s/{link.token}/doc/(\d+)/signed", page))
    assert offered == {str(document.id), str(certificate.id)}
    assert "Completion certificate: " in page
    for document_id, stored in ((document.id, sealed), (certificate.id, certificate)):
        response = await client.get(f"/s/{link.token}/doc/{document_id}/signed")
        body = await response.read()
        assert response.status == 200 and body.startswith(b"%PDF") and len(body) == stored.size
