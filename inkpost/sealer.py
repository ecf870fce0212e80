"""The sealing worker: takes the outbox's ``seal`` rows and completes their requests.

Sealing is retried like a delivery: a failure (a timestamp authority that is down, a
file the medium cannot give back) backs off and tries again, and after the last attempt
the row is dead and staff are told. Meanwhile the request shows ``sealing`` and its
error; it is never completed without its seal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from storage.models import Notification
from workflows.context import Env
from workflows.outbox import claims
from workflows.signing import completion, requests
from workflows.signing.seal_keys import SealKey

log = logging.getLogger(__name__)


class SealWorker:
    """One worker; several may run against one PostgreSQL (claims skip each other's rows)."""

    def __init__(
        self,
        env: Env,
        *,
        key: SealKey,
        timestamper_url: str | None = None,
        batch: int = 4,
        idle_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.env = env
        self.key = key
        self.timestamper_url = timestamper_url
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.worker_id = worker_id or f"sealer-{uuid.uuid4().hex[:12]}"

    async def run_once(self) -> int:
        """Seal the requests of the rows due now; returns how many rows were handled."""
        rows = await claims.claim_due(
            self.env, worker=self.worker_id, channels=(requests.SEAL_CHANNEL,), limit=self.batch
        )
        for row in rows:
            await self._handle(row)
        return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Seal until ``stop`` is set; sleeps ``idle_seconds`` when nothing is due."""
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # the loop must outlive a bad moment of the database
                log.exception("claiming requests to seal failed; retrying shortly")
                handled = 0
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_seconds)
        await claims.release_claims(self.env, worker=self.worker_id)

    async def _handle(self, row: Notification) -> None:
        assert row.id is not None
        request_id = int(row.payload.get("request_id", 0))
        try:
            request = await completion.complete_request(
                self.env, request_id, key=self.key, timestamper_url=self.timestamper_url
            )
        except Exception as error:
            log.warning("sealing request %s failed: %s", request_id, error)
            await claims.mark_failed(
                self.env, row, worker=self.worker_id, error=f"{type(error).__name__}: {error}"
            )
            return
        await claims.mark_sent(
            self.env, row.id, worker=self.worker_id, via="seal", result={"status": request.status}
        )
