"""The page a visit reads in one plain statement (`party_page.open_page`) is the page a
decision reads in its transaction (`party_page.load_page`), whatever the request's state."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from storage.models import Document
from tests.conftest import STAFF, Tenant
from tests.helpers import stored_notifications
from tests.web_sign.signing_helpers import envelope, link_only
from workflows.context import Actor, Env, FixedClock
from workflows.errors import NotFound
from workflows.outbox.kinds import Kind
from workflows.people import organizations, recipients
from workflows.signing import completion, deciding, identity, party_page
from workflows.signing.creation import NewParty
from workflows.signing.deciding import Decision
from workflows.signing.party_page import PartyPage
from workflows.signing.seal_keys import create_self_signed_seal, load_seal_key

ROOT = Path(__file__).resolve().parents[2]
WEB = Actor(type="party", label="page", ip="203.0.113.9")
ADAM = NewParty(role="signer", name="Adam Adhoc", email="adam@example.test")


def _document(document: Document) -> dict[str, Any]:
    # The page's read leaves out the extracted text, which no page shows.
    return document.model_dump(exclude={"text_content"})


def _shown(page: PartyPage) -> dict[str, Any]:
    """Everything a page holds, as plain values."""
    state = page.state
    return {
        "organization": page.organization.model_dump(),
        "request": page.request.model_dump(),
        "party": page.party.model_dump(),
        "link": page.link.model_dump(),
        "decider": page.decider.model_dump() if page.decider else None,
        "contact": page.contact.model_dump() if page.contact else None,
        "decision": page.decision.model_dump() if page.decision else None,
        "documents": [_document(d) for d in state.documents],
        "parties": [p.model_dump() for p in state.parties],
        "decisions": {i: d.model_dump() for i, d in state.decisions.items()},
        "sealed": {i: _document(d) for i, d in state.sealed.items()},
        "waiting_for": page.waiting_for,
        "confirmed_via": page.confirmed_via,
        "reach": page.reach,
        "may_decide": page.may_decide,
        "code_channel": page.code_channel,
    }


async def _both(env: Env, token: str, *, browser: str | None = None) -> PartyPage:
    """The page as a visit reads it, once checked against the page a transaction reads."""
    seen = await party_page.open_page(env, token, browser=browser)
    async with env.reads() as session:
        loaded = await party_page.load_page(
            session, token, env.clock.now(), browser=browser, reach=env.reach
        )
    assert _shown(seen) == _shown(loaded)
    assert seen.party in seen.state.parties
    return seen


async def _latest_code(env: Env) -> str:
    code: str = (await stored_notifications(env, kind=Kind.SIGN_CODE))[-1].payload["code"]
    return code


async def test_a_visit_reads_the_same_page_as_a_decision_through_a_sequential_request(
    env: Env, tenant: Tenant, clock: FixedClock
) -> None:
    made = await envelope(
        env,
        tenant,
        [
            ADAM,
            NewParty(role="approver", recipient_id=tenant.recipient_id),
            link_only("Vera", "viewer"),
        ],
        order="sequential",
        titles=("Loan agreement", "Annex"),
        message="Please sign & return <soon>",
    )
    adam, rita, vera = (made.tokens[n] for n in ("Adam Adhoc", "Rita Recipient", "Vera"))
    assert (await _both(env, adam)).may_decide
    assert (await _both(env, rita)).waiting_for == "Adam Adhoc"
    assert (await _both(env, vera)).verb is None

    await identity.send_code(env, adam)
    confirmed = await identity.confirm_code(env, adam, await _latest_code(env))
    assert (await _both(env, adam, browser=confirmed.token)).confirmed_via == "email"
    assert not (await _both(env, adam, browser="y" * 43)).verified
    assert not (await _both(env, rita, browser=confirmed.token)).verified  # not Rita's session
    for document_id in made.document_ids:
        await party_page.record_opened(env, adam, document_id, actor=WEB)
    await deciding.decide(
        env,
        adam,
        Decision(kind="sign", typed_name="Adam Adhoc", consent=True),
        actor=WEB,
        browser=confirmed.token,
    )

    signed = await _both(env, adam, browser=confirmed.token)
    assert signed.decision is not None and signed.party.opened_documents == made.document_ids
    assert (await _both(env, rita)).may_decide
    clock.at = confirmed.expires_at
    assert not (await _both(env, adam, browser=confirmed.token)).verified


async def test_a_colleague_s_link_reads_the_same_page_as_a_decision(
    env: Env, tenant: Tenant
) -> None:
    colleague = await recipients.add_recipient(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, name="Carl Colleague"
    )
    await organizations.edit_client(
        env, org_id=tenant.org_id, actor=STAFF, client_id=tenant.client_id, shared_cabinet=True
    )
    made = await envelope(
        env, tenant, [NewParty(role="approver", recipient_id=tenant.recipient_id)]
    )
    own = await _both(env, made.tokens["Rita Recipient"])
    assert colleague.id is not None and own.party.id is not None
    token = await deciding.link_for_recipient(
        env, party_id=own.party.id, recipient_id=colleague.id, via="telegram"
    )

    page = await _both(env, token)

    assert page.decider is not None and page.decider.name == "Carl Colleague"
    assert page.contact == page.decider and own.contact is not None
    assert own.contact.name == "Rita Recipient"


async def test_a_sealed_request_reads_the_same_page_as_a_decision(
    env: Env, tenant: Tenant, tmp_path: Path
) -> None:
    made = await envelope(env, tenant, [link_only("Sam Signer")])
    token = made.tokens["Sam Signer"]
    for document_id in made.document_ids:
        await party_page.record_opened(env, token, document_id, actor=WEB)
    await deciding.decide(
        env, token, Decision(kind="sign", typed_name="Sam Signer", consent=True), actor=WEB
    )
    seal = load_seal_key(*create_self_signed_seal(tmp_path / "seal", common_name="Acme seal"))
    await completion.complete_request(env, made.request_id, key=seal)

    page = await _both(env, token)

    assert list(page.state.sealed) == made.document_ids
    assert page.request.status == "completed" and not page.may_decide


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "../" * 10])
async def test_a_link_that_does_not_exist_is_not_found_either_way(
    env: Env, tenant: Tenant, token: str
) -> None:
    with pytest.raises(NotFound, match="this signing link does not exist"):
        await party_page.open_page(env, token)
    async with env.reads() as session:
        with pytest.raises(NotFound, match="this signing link does not exist"):
            await party_page.load_page(session, token, env.clock.now())


FIRST_REQUEST = """
import asyncio, sys
from datetime import UTC, datetime
from storage.db import make_engine, make_session_factory
from workflows.signing import page_rows

async def main() -> None:
    engine = make_engine(sys.argv[1])
    sessions = make_session_factory(engine)
    rows = await page_rows.read_page(sessions, sys.argv[2], browser=None, now=datetime.now(UTC))
    print(rows.party.name if rows else "none")
    await engine.dispose()

asyncio.run(main())
"""


async def test_a_page_is_the_first_thing_a_fresh_process_reads(
    env: Env, tenant: Tenant, database_url: str
) -> None:
    made = await envelope(env, tenant, [link_only("Sam Signer")])

    # A server process whose first request is a signing page has run no ORM statement yet.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FIRST_REQUEST,
        database_url,
        made.tokens["Sam Signer"],
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "Sam Signer"
