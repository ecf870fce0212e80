"""Fixtures of the storage tests: a real SeaweedFS S3 server, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.seaweed import S3Server, run_seaweed


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """``weed mini`` on free loopback ports; started on first use, stopped at session end."""
    with run_seaweed() as server:
        yield server
