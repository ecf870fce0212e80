"""Fixtures of the workflow tests that cost too much to build for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.pki import LocalPki, serving_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPki]:
    """A root CA, an issuing CA, CA-issued seals (one revoked) and a TSA, with their CRL,
    OCSP and timestamp services on 127.0.0.1 for the whole run (`tests.fakes.pki`)."""
    with serving_pki(tmp_path_factory.mktemp("pki")) as served:
        yield served
