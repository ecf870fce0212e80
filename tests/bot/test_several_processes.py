"""Several `inkpost serve` processes on one store and one bot: only one asks Telegram for
updates and only one sends through the bot, so Telegram never answers 409 Conflict nor
429 Too Many Requests, and when that process stops another takes the bot over. Likewise
only one posts staff notices to Slack, at one message a second per conversation."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from inkpost import services
from inkpost.runtime import Runtime
from inkpost.sample_pdf import make_pdf
from inkpost.settings import Settings
from storage.models import GroupMember, Recipient, StaffUser
from tests.conftest import STAFF, Tenant
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.telegram_api import FakeTelegramApi, FloodLimits, TgUser
from tests.helpers import upload
from workflows.context import Env
from workflows.people import groups
from workflows.sharing import access, sharing
from workflows.sharing.access import Visitor
from workflows.sharing.sharing import ShareTerms

PUBLIC = "https://docs.example.test"
FIRST_CHAT = 6_000_000_000
STELLA = "U0STELLA"
OPENED = 6
"""Staff notices to one conversation: Slack takes about one a second, in bursts of three."""
GROUP_SIZE = 120
"""Four seconds of Telegram's 30 messages a second, and more than one worker holds at once
(two claims of 30): two senders, each pacing itself, would share them and be answered 429."""


def runtime(engine: AsyncEngine, env: Env, fake: FakeTelegramApi, data_dir: Path) -> Runtime:
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        public_url=PUBLIC,
        telegram_token=fake.token,
        telegram_api_url=fake.url,
        scan_interval_seconds=0,
        role_retry_seconds=1,
    )
    return Runtime(settings=settings, engine=engine, env=env)


@contextlib.asynccontextmanager
async def serving(runtime: Runtime) -> AsyncIterator[web.AppRunner]:
    """The services of one serving process, started and stopped as `inkpost serve` does."""
    app = web.Application()
    services.attach(app, runtime)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        yield runner
    finally:
        await runner.cleanup()


def answered(fake: FakeTelegramApi, method: str, status: int) -> int:
    return sum(1 for r in fake.requests if r.method == method and r.status == status)


async def say(fake: FakeTelegramApi, chat_id: int, text: str) -> None:
    before = len(fake.messages_to(chat_id))
    fake.user_sends_text(chat_id, text, user=TgUser(id=chat_id))
    await fake.wait_for(lambda: len(fake.messages_to(chat_id)) > before, timeout=30)


async def test_one_process_polls_and_another_takes_over_when_it_stops(
    engine: AsyncEngine, env: Env, telegram_api: FakeTelegramApi, tmp_path: Path
) -> None:
    fake = telegram_api
    first = runtime(engine, env, fake, tmp_path / "first")
    second = runtime(engine, env, fake, tmp_path / "second")

    async with serving(first) as first_runner, serving(second):
        for number in range(3):
            await say(fake, 5_000_000_001 + number, "/help")
        polls_before_the_stop = len(fake.requests_for("getUpdates"))
        await first_runner.cleanup()

        for number in range(3):
            await say(fake, 5_000_000_011 + number, "/help")

    assert fake.poll_conflicts() == []
    assert len(fake.requests_for("getUpdates")) > polls_before_the_stop
    assert fake.pending_updates == []


async def test_two_processes_together_stay_under_the_bots_flood_limit(
    engine: AsyncEngine, env: Env, telegram_api: FakeTelegramApi, tenant: Tenant, tmp_path: Path
) -> None:
    fake = telegram_api
    fake.flood_limits = FloodLimits()
    chats = [FIRST_CHAT + number for number in range(GROUP_SIZE)]
    group_id = await group_of_linked_recipients(env, tenant, chats)
    for chat in chats:
        fake.register_chat(chat)
    document = await upload(
        env,
        org_id=tenant.org_id,
        client_id=tenant.client_id,
        title="Fee table 2027",
        data=make_pdf("Fee table 2027", pages=1),
    )
    assert document.id is not None

    async with (
        serving(runtime(engine, env, fake, tmp_path / "first")),
        serving(runtime(engine, env, fake, tmp_path / "second")),
    ):
        await sharing.share_with_group(
            env, org_id=tenant.org_id, actor=STAFF, document_id=document.id, group_id=group_id
        )
        await fake.wait_for(
            lambda: set(notices_per_chat(fake)) >= set(chats),
            timeout=60,
            what="a notice in every chat",
        )

    assert answered(fake, "sendMessage", 429) == 0
    assert Counter(notices_per_chat(fake).values()) == {1: GROUP_SIZE}


async def test_two_processes_together_post_staff_notices_at_slacks_pace(
    engine: AsyncEngine, env: Env, slack_api: FakeSlackApi, tenant: Tenant, tmp_path: Path
) -> None:
    async with env.sessions() as session, session.begin():
        member = await session.get(StaffUser, tenant.staff_id)
        assert member is not None
        member.slack_user_id = STELLA
    slack_api.add_user(STELLA, "stella")

    def on_slack(data_dir: Path) -> Runtime:
        settings = Settings(
            _env_file=None,
            data_dir=data_dir,
            public_url=PUBLIC,
            slack_bot_token=SecretStr(slack_api.token),
            slack_signing_secret=SecretStr("s3cret"),
            slack_api_url=slack_api.api_url,
            scan_interval_seconds=0,
            role_retry_seconds=1,
        )
        return Runtime(settings=settings, engine=engine, env=env)

    async with serving(on_slack(tmp_path / "first")), serving(on_slack(tmp_path / "second")):
        for number in range(OPENED):
            await a_document_is_opened(env, tenant, f"Fee table {number}")
            await asyncio.sleep(0.3)  # notices come in while earlier ones are being posted
        await slack_api.wait_for(lambda: len(slack_api.messages_to(STELLA)) >= OPENED, timeout=60)

    posts = [r for r in slack_api.requests if r.method == "chat.postMessage"]
    assert [r for r in posts if r.status == 429] == []
    assert len(slack_api.messages_to(STELLA)) == OPENED


async def a_document_is_opened(env: Env, tenant: Tenant, title: str) -> None:
    """The recipient opens a document the staff member shared: a notice to them in Slack."""
    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
    assert document.id is not None
    shared = await sharing.share_with_recipient(
        env,
        org_id=tenant.org_id,
        actor=STAFF,
        document_id=document.id,
        recipient_id=tenant.recipient_id,
        terms=ShareTerms(staff_id=tenant.staff_id),
    )
    assert shared.token is not None
    await access.open_shared(env, shared.token, Visitor(ip="198.51.100.7"))


def notices_per_chat(fake: FakeTelegramApi) -> Counter[int]:
    return Counter(s.chat_id for s in fake.sent if s.method == "sendMessage")


async def group_of_linked_recipients(env: Env, tenant: Tenant, chats: list[int]) -> int:
    """A group of one recipient linked to Telegram per chat in ``chats``."""
    async with env.sessions() as session, session.begin():
        people = [
            Recipient(
                org_id=tenant.org_id,
                client_id=tenant.client_id,
                name=f"Recipient {chat}",
                telegram_chat_id=chat,
                telegram_user_id=chat,
                telegram_active=True,
                status="active",
                created_at=env.clock.now(),
            )
            for chat in chats
        ]
        session.add_all(people)
        await session.flush()
        ids = [person.id for person in people]
    group = await groups.create_group(env, org_id=tenant.org_id, actor=STAFF, name="Everyone")
    assert group.id is not None
    async with env.sessions() as session, session.begin():
        session.add_all(
            GroupMember(group_id=group.id, recipient_id=rid, org_id=tenant.org_id)
            for rid in ids
            if rid is not None
        )
    return group.id
