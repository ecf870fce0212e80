"""Finding clients by part of their name, as a picker does: per organisation, by name."""

from __future__ import annotations

from tests.conftest import STAFF, Tenant, make_tenant
from workflows.context import Env
from workflows.people import organizations


async def _add(env: Env, org_id: int, *names: str) -> None:
    for name in names:
        await organizations.add_client(env, org_id=org_id, actor=STAFF, name=name)


async def _names(env: Env, org_id: int, words: str = "", limit: int = 10) -> list[str]:
    found = await organizations.find_clients(env, org_id=org_id, words=words, limit=limit)
    return [c.name for c in found]


async def test_clients_are_found_by_any_part_of_their_name_in_any_case(
    env: Env, tenant: Tenant
) -> None:
    await _add(env, tenant.org_id, "Baltic Shipping", "Timberland Estates")

    assert await _names(env, tenant.org_id, "TIMBER") == ["Nordic Timber", "Timberland Estates"]
    assert await _names(env, tenant.org_id, "  ") == [
        "Baltic Shipping",
        "Nordic Timber",
        "Timberland Estates",
    ]
    assert await _names(env, tenant.org_id, limit=1) == ["Baltic Shipping"]


async def test_wildcards_typed_by_people_match_only_themselves(env: Env, tenant: Tenant) -> None:
    await _add(env, tenant.org_id, "100% Organic", "A_B Partners", "AxB Holding")

    assert await _names(env, tenant.org_id, "%") == ["100% Organic"]
    assert await _names(env, tenant.org_id, "a_b") == ["A_B Partners"]


async def test_other_organisations_clients_are_never_found(env: Env, tenant: Tenant) -> None:
    rival = await make_tenant(env, "rival")
    await _add(env, rival.org_id, "Nordic Rival")

    assert await _names(env, tenant.org_id, "nordic") == ["Nordic Timber"]
