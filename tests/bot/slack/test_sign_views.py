"""The Slack messages about signature requests, built from their data alone."""

from __future__ import annotations

import json

from bot.slack.features.signing.views import created_message
from storage.models import Party, SignatureRequest
from tests.conftest import START
from workflows.signing.creation import CreatedRequest
from workflows.signing.requests import PartyLinkResult

WHY = (
    "Anna Berg cannot confirm who they are: their one-time code would go by email, which "
    "this installation does not send; they cannot decide until it does"
)


def _created(unconfirmable: list[str]) -> CreatedRequest:
    request = SignatureRequest(
        id=1, org_id=1, number=4, title="Loan", created_at=START, status_changed_at=START
    )
    party = Party(
        id=1, org_id=1, request_id=1, position=1, role="signer", name="Anna Berg",
        email="anna@firm.test", created_at=START,
    )  # fmt: skip
    return CreatedRequest(
        request=request,
        documents=[],
        parties=[PartyLinkResult(party, "T" * 43)],
        unconfirmable=unconfirmable,
    )


def test_the_sent_message_warns_of_each_party_who_cannot_confirm_who_they_are() -> None:
    warned = created_message(_created([WHY]), public_url="https://sign.example.test")
    plain = created_message(_created([]), public_url="https://sign.example.test")

    assert f":warning: {WHY}." in json.dumps(warned["blocks"], ensure_ascii=False)
    assert f"Warning: {WHY}." in warned["text"]
    assert "warning" not in json.dumps(plain).lower()
