"""Keys of the integration API: minted once and shown once, kept only as a hash, limited
to scopes and (like a walled staff member) to named clients, and revoked for good."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, update
from sqlalchemy import select as select_columns
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ApiKey, ApiKeyClient, Client, StaffUser
from storage.quick import quick_transaction, read_rows
from storage.walls import EVERY_CLIENT, Wall
from workflows import audit
from workflows.context import Actor, Env
from workflows.errors import Conflict, InvalidInput, NotAllowed, NotFound, WorkflowError
from workflows.scope import clean_text, get_scoped
from workflows.tokens import hash_token, new_token

SCOPES = ("read", "write", "sign", "admin")
"""read: look at anything the key sees; write: upload, share, change people; sign: start,
cancel and remind signature requests; admin: everything, and the organisation's history."""

KEY_PREFIX = "ink_"
SHOWN_PREFIX = 12
"""How many of a key's first characters listings show, to tell keys apart."""
LAST_USED_EVERY = timedelta(minutes=1)
"""A key's ``last_used_at`` is written at most this often, not on every request."""


class BadKey(WorkflowError):
    """No key, or one that is unknown or revoked: the request is not authenticated."""


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    token: str
    """The key itself: shown once, never stored."""


@dataclass(frozen=True)
class KeySummary:
    key: ApiKey
    client_ids: tuple[int, ...]


@dataclass(frozen=True)
class KeyHolder:
    """Who a request with a valid key is: its organisation, scopes, wall and actor."""

    key_id: int
    org_id: int
    name: str
    scopes: frozenset[str]
    wall: Wall | None

    @property
    def actor(self) -> Actor:
        return api_key_actor(self.key_id, self.name)

    def may(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def api_key_actor(key_id: int, name: str) -> Actor:
    """How the history names what a key did: "API key 'erp-sync'"."""
    return Actor(type="api_key", id=str(key_id), label=f"API key '{name}'")


def check_scopes(scopes: Sequence[str]) -> list[str]:
    wanted = [scope.strip().lower() for scope in scopes if scope.strip()]
    if not wanted:
        raise InvalidInput(f"name at least one scope ({', '.join(SCOPES)})")
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if unknown:
        raise InvalidInput(f"unknown scope '{unknown[0]}'; the scopes are: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in wanted]


async def create_key(
    env: Env,
    *,
    org_id: int,
    actor: Actor,
    name: str,
    scopes: Sequence[str],
    client_ids: Sequence[int] = (),
) -> IssuedKey:
    """A new key of the organisation; with ``client_ids`` it sees only those clients."""
    env.require_every_client(to="create API keys")
    cleaned = clean_text(name, what="key name", max_len=64)
    assert cleaned is not None
    granted = check_scopes(scopes)
    secret, _ = new_token()
    token = KEY_PREFIX + secret
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        for client_id in client_ids:
            await get_scoped(session, Client, org_id=org_id, id=client_id, what="client")
        clash = (
            await session.exec(
                select(ApiKey.id).where(
                    ApiKey.org_id == org_id,
                    ApiKey.name == cleaned,
                    col(ApiKey.revoked_at).is_(None),
                )
            )
        ).first()
        if clash is not None:
            raise Conflict(f"an API key named '{cleaned}' already exists")
        key = ApiKey(
            org_id=org_id,
            name=cleaned,
            prefix=token[:SHOWN_PREFIX],
            token_hash=hash_token(token),
            scopes=granted,
            walled=bool(client_ids),
            created_by=actor.label,
            created_at=now,
        )
        session.add(key)
        await session.flush()
        assert key.id is not None
        for client_id in sorted(set(client_ids)):
            session.add(ApiKeyClient(key_id=key.id, client_id=client_id, org_id=org_id))
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="api_key.created",
            at=now,
            details={
                "key_id": key.id,
                "name": cleaned,
                "scopes": granted,
                "client_ids": sorted(set(client_ids)),
            },
        )
    return IssuedKey(key=key, token=token)


async def list_keys(env: Env, *, org_id: int, include_revoked: bool = False) -> list[KeySummary]:
    env.require_every_client(to="list API keys")
    query = select(ApiKey).where(ApiKey.org_id == org_id)
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    async with env.reads() as session:
        keys = (await session.exec(query.order_by(col(ApiKey.id)))).all()
        walls = (
            await session.exec(
                select(ApiKeyClient)
                .where(ApiKeyClient.org_id == org_id)
                .execution_options(**EVERY_CLIENT)
            )
        ).all()
    clients: dict[int, list[int]] = {}
    for row in walls:
        clients.setdefault(row.key_id, []).append(row.client_id)
    return [
        KeySummary(key=key, client_ids=tuple(sorted(clients.get(key.id or 0, [])))) for key in keys
    ]


async def find_key(env: Env, *, org_id: int, which: str) -> ApiKey:
    """An unrevoked key by its id or its name."""
    query = select(ApiKey).where(ApiKey.org_id == org_id, col(ApiKey.revoked_at).is_(None))
    text = which.strip()
    query = (
        query.where(ApiKey.id == int(text)) if text.isdigit() else query.where(ApiKey.name == text)
    )
    async with env.reads() as session:
        key = (await session.exec(query)).first()
    if key is None:
        raise NotFound(f"no API key '{text}' (unrevoked) in this organisation")
    return key


async def revoke_key(env: Env, *, org_id: int, actor: Actor, key_id: int) -> ApiKey:
    """Revoke a key: from now on every request with it is refused."""
    env.require_every_client(to="revoke API keys")
    now = env.clock.now()
    async with env.sessions() as session, session.begin():
        await require_admin(session, org_id, actor)
        key = await get_scoped(session, ApiKey, org_id=org_id, id=key_id, what="API key")
        if key.revoked_at is not None:
            raise Conflict(f"API key '{key.name}' is already revoked")
        key.revoked_at = now
        session.add(key)
        await audit.record(
            session,
            org_id=org_id,
            actor=actor,
            action="api_key.revoked",
            at=now,
            details={"key_id": key.id, "name": key.name},
        )
    return key


async def require_admin(session: AsyncSession, org_id: int, actor: Actor) -> None:
    """Staff must be active administrators; the operator (and a key with the admin scope,
    checked by the API) act as the organisation."""
    if actor.type != "staff":
        return
    member = await session.get(StaffUser, int(actor.id or 0))
    if member is None or member.org_id != org_id or member.role != "admin":
        raise NotAllowed("only administrators may manage API keys")
    if member.status != "active":
        raise NotAllowed(f"{member.name} is blocked")


_BY_HASH = select_columns(
    col(ApiKey.id),
    col(ApiKey.org_id),
    col(ApiKey.name),
    col(ApiKey.scopes),
    col(ApiKey.walled),
    col(ApiKey.revoked_at),
    col(ApiKey.last_used_at),
).where(col(ApiKey.token_hash) == bindparam("token_hash"))
"""A key by its token's hash: built once, its compiled form cached, no row object made."""
_WALL_OF = select_columns(col(ApiKeyClient.client_id)).where(
    col(ApiKeyClient.key_id) == bindparam("key_id")
)


async def authenticate(env: Env, *, token: str | None) -> KeyHolder:
    """The holder of ``token``; BadKey when it is missing, unknown or revoked.

    Every request asks this, so it reads outside any ORM session (on SQLite on the
    calling thread, with no write lock: `storage.quick`) and writes only when the key's
    ``last_used_at`` is due again. A revoked key is refused by the next request, in every
    process."""
    if not token:
        raise BadKey("an API key is required (Authorization: Bearer <key>)")
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        raise BadKey("the API key is not valid")
    now = env.clock.now()
    found = await read_rows(env.sessions, _BY_HASH, {"token_hash": hash_token(token)})
    key = found[0] if found else None
    if key is None or key.id is None:
        raise BadKey("the API key is not valid")
    if key.revoked_at is not None:
        raise BadKey("the API key has been revoked")
    wall = None
    if key.walled:
        clients = await read_rows(env.sessions, _WALL_OF, {"key_id": key.id})
        wall = Wall.of(row[0] for row in clients)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        async with env.sessions() as session, session.begin():
            await session.exec(
                update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now)
            )
    return KeyHolder(
        key_id=key.id,
        org_id=key.org_id,
        name=key.name,
        scopes=frozenset(key.scopes),
        wall=wall,
    )


@dataclass(frozen=True)
class Lease:
    """Requests a process may let through for a key without asking again."""

    granted: int
    wait: float
    """When nothing was granted: seconds until the bucket holds one more request."""


_BUDGET_OF = (
    select_columns(col(ApiKey.budget), col(ApiKey.budget_at))
    .where(col(ApiKey.id) == bindparam("key_id"))
    .with_for_update()
)
_SPEND = (
    update(ApiKey)
    .where(col(ApiKey.id) == bindparam("key_id"))
    .values(budget=bindparam("left"), budget_at=bindparam("at"))
)


async def lease_requests(env: Env, *, key_id: int, want: int, per_minute: int, burst: int) -> Lease:
    """Take up to ``want`` requests from the key's bucket in the store: it holds up to
    ``burst`` and refills at ``per_minute``, whichever process serves the key. Every
    process draws on it, so together they let through no more than one process alone
    would; none is granted (with the wait until one is) when it is empty."""
    if want < 1 or burst < 1 or per_minute < 1:
        raise ValueError("a lease takes at least one request from a bucket that refills")
    now = env.clock.now()
    async with quick_transaction(env.sessions) as session:
        return await session.run_sync(
            lambda sync: _lease(
                sync.connection(), key_id, want=want, rate=per_minute / 60.0, burst=burst, now=now
            )
        )


def _lease(
    connection: Connection, key_id: int, *, want: int, rate: float, burst: int, now: datetime
) -> Lease:
    found = connection.execute(_BUDGET_OF, {"key_id": key_id}).first()
    if found is None:
        raise BadKey("the API key is not valid")
    budget, at = found
    if budget is None or at is None:
        tokens = float(burst)
    else:
        # Clocks of several machines may disagree: time never runs back for a bucket.
        elapsed = max(0.0, (now - at).total_seconds())
        tokens = min(float(burst), budget + elapsed * rate)
        now = max(now, at)
    granted = min(want, int(tokens))
    connection.execute(_SPEND, {"key_id": key_id, "left": tokens - granted, "at": now})
    return Lease(granted=granted, wait=0.0 if granted else (1.0 - tokens) / rate)
