"""Every operation of the served OpenAPI document, with generated valid requests and a
valid key, on both databases: no server error, and every answer as the document says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import make_tenant
from tests.helpers import upload
from tests.web_api.conftest import make_key
from tests.web_api.live import LiveApp, live_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES = 10


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveApp, str]]:
    with live_app(database_url=database_url, root=tmp_path) as app:

        async def prepare() -> str:
            tenant = await make_tenant(app.env)
            await upload(app.env, org_id=tenant.org_id, client_id=tenant.client_id)
            return await make_key(app.env, tenant)

        yield app, app.run(prepare())


def test_every_operation_answers_as_its_document_says(live: tuple[LiveApp, str]) -> None:
    app, key = live
    spec = requests.get(f"{app.base_url}/api/v1/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(spec)
    headers = {"Authorization": f"Bearer {key}"}
    base_url = f"{app.base_url}/api/v1"
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == sum(len(methods) for methods in spec["paths"].values())
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        conforms()
