"""Each kind's payload is written and read in one place, as the rows before it were."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from storage.models import Notification
from workflows.outbox import kinds
from workflows.outbox.kinds import BadPayload, Kind, Via

MOMENT = datetime(2027, 6, 30, 21, 59, 59, tzinfo=UTC)
EXAMPLES: list[kinds.Payload] = [
    kinds.SharePayload(share_id=1, document_id=2),
    kinds.AvailabilityPayload(share_id=1, document_id=2, available_until=MOMENT),
    kinds.CodePayload(request_id=3, party_id=4, code="123456", via=Via.TELEGRAM),
    kinds.VisitPayload(kind=Kind.DOCUMENT_OPENED, document_id=2, share_id=1, recipient_id=None),
    kinds.UnopenedPayload(document_id=2, recipient_ids=(5, 6), available_until=MOMENT),
    kinds.SignStatusPayload(request_id=3, status="completed", sealed=("D-7",)),
    kinds.DeadSummaryPayload(count=2, by_kind={"sign.code": 2}, day=date(2027, 1, 2)),
    kinds.SealPayload(request_id=3),
]


def _row(payload: kinds.Payload) -> Notification:
    return Notification(
        org_id=1,
        channel="recipient",
        target="1",
        kind=payload.kind.value,
        payload=payload.to_json(),
        dedupe_key="k",
    )


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).__name__)
def test_every_payload_reads_back_as_it_was_written(payload: kinds.Payload) -> None:
    assert kinds.parse(_row(payload)) == payload
    assert type(payload).parse(_row(payload)) == payload


def test_stored_json_keeps_the_shape_of_earlier_rows() -> None:
    assert kinds.AvailabilityPayload(
        share_id=1, document_id=2, available_until=MOMENT
    ).to_json() == {
        "share_id": 1,
        "document_id": 2,
        "available_until": "2027-06-30T21:59:59+00:00",
    }
    scrubbed = kinds.CodePayload(request_id=3, party_id=4, code=None, via=Via.EMAIL)
    assert scrubbed.to_json() == {"request_id": 3, "party_id": 4, "via": "email"}
    assert kinds.DeadSummaryPayload(count=1, by_kind={}, day=date(2027, 1, 2)).to_json() == {
        "count": 1,
        "by_kind": {},
        "date": "2027-01-02",
    }


@pytest.mark.parametrize(
    ("kind", "payload", "problem"),
    [
        ("document.shared", {"share_id": "1", "document_id": 2}, "share_id: "),
        ("document.shared", {"document_id": 2}, "share_id: Field required"),
        ("sign.code", {"request_id": 1, "party_id": 2, "via": "pigeon"}, "via: "),
        ("remind.availability", {"share_id": 1, "document_id": 2, "available_until": "x"}, "until"),
        ("no.such.kind", {}, "unknown kind no.such.kind"),
    ],
)
def test_a_row_that_cannot_be_read_is_refused_not_guessed_at(
    kind: str, payload: dict[str, object], problem: str
) -> None:
    row = Notification(
        org_id=1, channel="recipient", target="1", kind=kind, payload=payload, dedupe_key="k"
    )

    with pytest.raises(BadPayload, match=problem):
        kinds.parse(row)
    assert kinds.parsed(row) is None
