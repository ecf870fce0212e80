"""`id_of`: the id of a stored row, and a clear error for a row not yet flushed."""

from __future__ import annotations

import pytest

from storage.models import Group
from storage.rows import id_of


def test_a_stored_row_gives_its_id() -> None:
    assert id_of(Group(id=7, org_id=1, name="Board")) == 7


def test_a_row_not_yet_flushed_has_no_id_to_give() -> None:
    with pytest.raises(ValueError, match="Group has no id yet"):
        id_of(Group(org_id=1, name="Board"))
