"""Building signature requests and Telegram launch data for the signing page tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web
from sqlmodel import select

from storage.models import Party, PartyDecision
from tests.conftest import STAFF, Tenant
from tests.helpers import upload
from tests.web_sign.conftest import PUBLIC_URL
from web_sign import create_app
from web_sign.telegram_auth import signature
from workflows.context import Env
from workflows.signing import creation
from workflows.signing.creation import NewParty, NewRequest

BOT_TOKEN = "123456:test-bot-token-for-mini-app"
SECRET = "test-secret"
"""The signing forms' key in these tests, so a test can compute a form's token."""


def signing_app(
    env: Env, cache_dir: Path, *, public_url: str = PUBLIC_URL, secret_key: str = SECRET
) -> web.Application:
    """The web app with the signing pages keyed by ``secret_key`` and the Mini App on."""
    return create_app(
        env=env,
        cache_dir=cache_dir,
        public_url=public_url,
        secret_key=secret_key,
        telegram_bot_token=BOT_TOKEN,
    )


def init_data(
    *,
    at: datetime,
    user_id: int = 5550001,
    start_param: str | None = None,
    bot_token: str = BOT_TOKEN,
    language_code: str = "en",
) -> str:
    """``initData`` as Telegram builds it for a Mini App launch, signed for ``bot_token``."""
    fields = {
        "query_id": "AAHdF6IQAAAAAN0XohDhrOrc",
        "user": json.dumps(
            {
                "id": user_id,
                "first_name": "Rita",
                "last_name": "Recipient",
                "username": "rita_r",
                "language_code": language_code,
            },
            separators=(",", ":"),
        ),
        "auth_date": str(int(at.timestamp())),
    }
    if start_param is not None:
        fields["start_param"] = start_param
    fields["hash"] = signature(fields, bot_token=bot_token)
    return urlencode(fields)


@dataclass(frozen=True)
class Envelope:
    ref: str
    request_id: int
    tokens: dict[str, str]
    """Link token by party name."""
    document_ids: list[int]


async def envelope(
    env: Env,
    tenant: Tenant,
    parties: list[NewParty],
    *,
    order: str = "parallel",
    titles: tuple[str, ...] = ("Loan agreement",),
    title: str | None = None,
    message: str | None = None,
) -> Envelope:
    """A request over fresh 3-page PDFs, one per title."""
    document_ids = []
    for name in titles:
        document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=name)
        assert document.id is not None
        document_ids.append(document.id)
    created = await creation.create_request(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        staff_id=tenant.staff_id,
        new=NewRequest(
            document_ids=document_ids, parties=parties, order=order, title=title, message=message
        ),
    )
    assert created.request.id is not None
    return Envelope(
        ref=created.request.ref,
        request_id=created.request.id,
        tokens={link.party.name: link.token for link in created.parties},
        document_ids=document_ids,
    )


def link_only(name: str, role: str = "signer") -> NewParty:
    """A party reachable only through their link (no code to confirm)."""
    return NewParty(role=role, name=name, phone="+46 70 123 45 67")


async def decisions(env: Env) -> list[PartyDecision]:
    async with env.reads() as session:
        return list((await session.exec(select(PartyDecision))).all())


async def party_named(env: Env, name: str) -> Party:
    async with env.reads() as session:
        return (await session.exec(select(Party).where(Party.name == name))).one()
