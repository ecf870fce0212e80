"""The spans a visitor fetched by range requests, merged until they make up the file."""

from __future__ import annotations

import pytest

from workflows.sharing.ranges import merged


@pytest.mark.parametrize(
    ("spans", "start", "stop", "expected"),
    [
        ([], 0, 100, [[0, 100]]),
        ([[0, 100]], 100, 200, [[0, 200]]),  # touching spans join
        ([[0, 100]], 150, 200, [[0, 100], [150, 200]]),
        ([[0, 100], [150, 200]], 90, 160, [[0, 200]]),  # a span bridging two
        ([[50, 60]], 0, 300, [[0, 300]]),  # a span swallowing one
        ([[0, 100]], 10, 20, [[0, 100]]),  # fetched again
    ],
)
def test_spans_merge(
    spans: list[list[int]], start: int, stop: int, expected: list[list[int]]
) -> None:
    assert merged(spans, start, stop) == expected
