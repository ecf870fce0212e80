"""The checkpoint job as `inkpost serve` runs it: beside the scans in the app's lifetime,
writing a checkpoint of each history that moved, and nothing while none did."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper

from inkpost import scheduler
from inkpost.settings import Settings
from tests.conftest import Tenant
from tests.helpers import upload
from workflows import checkpoint_checks, checkpoints
from workflows.context import Env
from workflows.signing.seal_keys import SealKey, create_self_signed_seal, load_seal_key


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    directory = tmp_path_factory.mktemp("seal") / "seal"
    return load_seal_key(*create_self_signed_seal(directory, common_name="Acme Law seal"))


async def _until(condition: Callable[[], Awaitable[bool]], *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the job did not get there in time")
        await asyncio.sleep(0.05)


def _written(env: Env, tenant: Tenant, count: int) -> Callable[[], Awaitable[bool]]:
    async def enough() -> bool:
        return len(await checkpoints.list_checkpoints(env, org_id=tenant.org_id)) >= count

    return enough


async def test_the_app_writes_a_checkpoint_each_interval_the_chain_moved(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    plan = scheduler.Checkpointing(seal=seal, timestamper=None, interval_seconds=0.2)
    app = web.Application()
    app.cleanup_ctx.append(scheduler.lifetime(env, interval_seconds=0, checkpointing=plan))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await _until(_written(env, tenant, 1))
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id)
        await _until(_written(env, tenant, 2))
    finally:
        await runner.cleanup()

    first, second = await checkpoints.list_checkpoints(env, org_id=tenant.org_id)
    assert second.seq > first.event_seq
    report = await checkpoint_checks.verify_history(
        env, org_id=tenant.org_id, trusted=seal.trust_anchors
    )
    assert report.ok and report.checkpoints == 2


async def test_the_job_writes_nothing_while_no_history_moves(
    env: Env, tenant: Tenant, seal: SealKey
) -> None:
    plan = scheduler.Checkpointing(seal=seal, timestamper=None, interval_seconds=0.1)
    job = scheduler.CheckpointScheduler(env, plan)

    async with job.running():

        async def ran_five_times() -> bool:
            return job.runs >= 5

        await _until(ran_five_times)

    assert len(await checkpoints.list_checkpoints(env, org_id=tenant.org_id)) == 1


async def test_a_failing_timestamp_authority_is_logged_and_tried_again(
    env: Env, tenant: Tenant, seal: SealKey, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/tsa"
    plan = scheduler.Checkpointing(
        seal=seal, timestamper=HTTPTimeStamper(url, timeout=1), interval_seconds=0.1
    )
    job = scheduler.CheckpointScheduler(env, plan)

    with caplog.at_level(logging.ERROR, logger="inkpost.scheduler"):
        async with job.running():

            async def twice() -> bool:
                return job.runs >= 2

            await _until(twice)

    failures = [r.getMessage() for r in caplog.records if "no checkpoint for" in r.getMessage()]
    assert len(failures) >= 2
    assert failures[0].startswith(
        f"no checkpoint for organisation acme: the timestamp authority {url}"
    )
    assert await checkpoints.list_checkpoints(env, org_id=tenant.org_id) == []


def test_the_settings_say_how_often_and_with_which_authority(
    seal: SealKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INKPOST_TSA_URL", raising=False)
    monkeypatch.delenv("INKPOST_CHECKPOINT_INTERVAL_SECONDS", raising=False)
    default = scheduler.checkpoint_plan(Settings(data_dir=tmp_path), seal)
    assert default is not None
    assert (default.interval_seconds, default.timestamper) == (3600, None)

    stamped = scheduler.checkpoint_plan(
        Settings(data_dir=tmp_path, tsa_url="http://127.0.0.1:9/tsa"), seal
    )
    assert stamped is not None and isinstance(stamped.timestamper, HTTPTimeStamper)
    assert stamped.timestamper.url == "http://127.0.0.1:9/tsa"

    assert scheduler.checkpoint_plan(Settings(checkpoint_interval_seconds=0), seal) is None
    assert scheduler.checkpoint_plan(Settings(data_dir=tmp_path), None) is None
