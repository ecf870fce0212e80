"""Bulk inserts of JSON columns given as text already."""

from __future__ import annotations

import json

import pytest
from sqlmodel import col, select

from storage import bulk
from storage.models import Notification
from tests.conftest import Tenant
from tests.storage.test_bulk import NOTIFICATION, notice
from workflows.context import Env


async def test_encoded_json_reads_back_as_the_value_it_spells(env: Env, tenant: Tenant) -> None:
    values = [{"share_id": 1, "title": 'Zażółć "gęślą" jaźń'}, {"nested": [1, None, {"a": True}]}]
    rows = [
        notice(f"k{i}", org_id=tenant.org_id, payload=json.dumps(value))
        for i, value in enumerate(values)
    ]
    async with env.sessions() as session, session.begin():
        inserted = await bulk.insert(session, NOTIFICATION, rows, encoded=frozenset({"payload"}))
        assert inserted == 2
    async with env.sessions() as session:
        stored = (
            await session.exec(select(Notification).order_by(col(Notification.dedupe_key)))
        ).all()
    assert [n.payload for n in stored] == values


async def test_only_json_columns_the_rows_give_may_come_encoded(env: Env, tenant: Tenant) -> None:
    rows = [notice("k", org_id=tenant.org_id)]
    async with env.sessions() as session, session.begin():
        for wrong in ("target", "result"):
            with pytest.raises(ValueError, match=f"notification.{wrong} is not a JSON column"):
                await bulk.insert(session, NOTIFICATION, rows, encoded=frozenset({wrong}))
    async with env.sessions() as session:
        assert (await session.exec(select(Notification))).all() == []
