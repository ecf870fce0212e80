"""The delivery worker `inkpost serve` runs is tuned by the settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from inkpost import services
from inkpost.settings import Settings
from workflows.context import Env


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_lease_and_unsettled_sends_come_from_the_settings(env: Env) -> None:
    settings = _settings(outbox_lease_seconds=90, outbox_unsettled=4)

    worker = services.recipient_delivery(settings, env, telegram=None, mail=None)

    assert worker.claim.lease == timedelta(seconds=90)
    assert worker.unsettled == 4


def test_one_unsettled_send_is_the_default(env: Env) -> None:
    worker = services.recipient_delivery(_settings(), env, telegram=None, mail=None)

    assert worker.unsettled == 1


@pytest.mark.parametrize("value", [0, 31])
def test_unsettled_sends_outside_one_to_thirty_are_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="outbox_unsettled"):
        _settings(outbox_unsettled=value)
