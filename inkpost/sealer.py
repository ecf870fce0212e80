"""The sealing worker: takes the outbox's ``seal`` rows and completes their requests.

Sealing is retried like a delivery: a failure (a timestamp authority that is down, a
file the medium cannot give back) backs off and tries again, and after the last attempt
the row is dead and staff are told. Meanwhile the request shows ``sealing`` and its
error; it is never completed without its seal.

The network clients sealing needs are built here, from the settings, and handed down:
an RFC 3161 client for the timestamp authority (`HttpTimestamper`) and pyHanko's
``AIOHttpFetcherBackend`` for revocation data. Neither holds a session across seals:
each PDF is sealed in an event loop of its own (in a worker thread), an aiohttp session
belongs to the loop that opened it, and ``seal_pdf`` closes the backend's when it ends.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import aiohttp
from asn1crypto import tsp
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError, set_tsp_headers
from pyhanko_certvalidator.fetchers import FetcherBackend
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from inkpost.settings import Settings
from storage.models import Notification
from storage.rows import id_of
from workflows.context import Env
from workflows.outbox import claims
from workflows.outbox.kinds import BadPayload, Channel, SealPayload, Via
from workflows.outbox.loop import Claim, ClaimingWorker, OutboxLoop
from workflows.signing import completion
from workflows.signing.seal_keys import SealKey

log = logging.getLogger(__name__)

TSA_TIMEOUT_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 10.0


def timestamper(settings: Settings) -> TimeStamper | None:
    """The timestamp authority's client, when INKPOST_TSA_URL names one."""
    if not settings.tsa_url:
        return None
    return HttpTimestamper(settings.tsa_url, timeout=TSA_TIMEOUT_SECONDS)


def fetcher_backend() -> FetcherBackend:
    """Where revocation data of the seal's and the TSA's chains is fetched from."""
    return AIOHttpFetcherBackend(per_request_timeout=FETCH_TIMEOUT_SECONDS)


class HttpTimestamper(HTTPTimeStamper):
    """pyHanko's ``HTTPTimeStamper``, each request in a short aiohttp session of its own
    (so that one client serves every event loop that asks: each seal runs in a loop of its
    own, the checkpoints in the server's), but without pyHanko's TLS context for every
    session: built from the CA bundle each time, it took 0.13-0.2 s here, four or five
    times per sealed document. This one uses aiohttp's, made once per process from the
    system's trust store."""

    def __init__(self, url: str, *, timeout: float) -> None:
        super().__init__(url, timeout=timeout)

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        limit = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=limit) as session,
                session.post(
                    self.url, data=req.dump(), headers=set_tsp_headers({}), raise_for_status=True
                ) as response,
            ):
                kind = response.content_type
                body = await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise TimestampRequestError("Error while contacting timestamp service") from error
        if kind != "application/timestamp-reply":
            raise TimestampRequestError(f"the answer is {kind}, not application/timestamp-reply")
        return tsp.TimeStampResp.load(body)


class SealWorker(ClaimingWorker):
    """One worker; several may run against one PostgreSQL (claims skip each other's rows).
    Its loop (`workflows.outbox.loop`) seals the requests of one claim after another."""

    def __init__(
        self,
        env: Env,
        *,
        key: SealKey,
        timestamper: TimeStamper | None = None,
        fetcher_backend: FetcherBackend | None = None,
        batch: int = 4,
        idle_seconds: float = 1.0,
        worker_id: str | None = None,
    ) -> None:
        self.env = env
        self.key = key
        self.timestamper = timestamper
        self.fetcher_backend = fetcher_backend
        self.claim = Claim(
            worker=worker_id or f"sealer-{uuid.uuid4().hex[:12]}",
            channels=(Channel.SEAL,),
            batch=batch,
        )
        self.loop = OutboxLoop(env, self, name="sealing", idle_seconds=idle_seconds)

    async def handle(self, rows: Sequence[Notification]) -> None:
        """Seal each row's request in turn (a fetcher backend serves one seal at a time)."""
        for row in rows:
            await self._handle(row)

    async def _handle(self, row: Notification) -> None:
        try:
            request_id = SealPayload.parse(row).request_id
        except BadPayload as error:
            await claims.mark_failed(
                self.env, row, worker=self.worker_id, error=str(error), permanent=True
            )
            return
        try:
            request = await completion.complete_request(
                self.env,
                request_id,
                key=self.key,
                timestamper=self.timestamper,
                fetcher_backend=self.fetcher_backend,
            )
        except Exception as error:
            log.warning("sealing request %s failed: %s", request_id, error)
            await claims.mark_failed(
                self.env, row, worker=self.worker_id, error=f"{type(error).__name__}: {error}"
            )
            return
        await claims.mark_sent(
            self.env,
            id_of(row),
            worker=self.worker_id,
            via=Via.SEAL,
            result={"status": request.status},
        )
