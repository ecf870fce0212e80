"""Damaged, hostile and fuzzed PDFs: each is refused with a reason and leaves nothing
behind, or is stored as the reader that opens it sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.models import AuditEvent, Document
from tests.conftest import STAFF, Tenant
from tests.damaged_pdfs import damaged, hostile, readable_though_damaged, sound
from tests.helpers import audit_events, blob_files, count_rows, upload
from workflows import media
from workflows.context import Env
from workflows.errors import InvalidInput
from workflows.people import organizations

REFUSED = {**damaged(), **hostile()}
SOUND = sound()


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_a_damaged_or_hostile_pdf_is_refused_and_leaves_nothing(
    env: Env, tenant: Tenant, name: str
) -> None:
    events = await count_rows(env, AuditEvent)

    with pytest.raises(InvalidInput) as refused:
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=REFUSED[name])

    assert str(refused.value).startswith(("the PDF", "the file is a PDF and a ZIP"))
    assert await count_rows(env, Document) == 0 and await count_rows(env, AuditEvent) == events
    assert blob_files(env.blobs.root) == []


@pytest.mark.parametrize("name", sorted(readable_though_damaged()))
async def test_a_pdf_a_reader_still_opens_is_stored(env: Env, tenant: Tenant, name: str) -> None:
    data = readable_though_damaged()[name]

    document = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=data)

    assert document.page_count == 2 and document.active_content is None


async def test_an_organisation_may_accept_active_content_and_each_file_records_it(
    env: Env, tenant: Tenant
) -> None:
    await organizations.set_active_content(env, org_id=tenant.org_id, actor=STAFF, allow=True)
    scripted = hostile()

    document = await upload(
        env, org_id=tenant.org_id, client_id=tenant.client_id,
        data=scripted["JavaScript on opening"],
    )  # fmt: skip
    with pytest.raises(InvalidInput, match="a PDF and a ZIP archive at once"):
        await upload(
            env, org_id=tenant.org_id, client_id=tenant.client_id,
            data=scripted["PDF and ZIP at once"],
        )  # fmt: skip

    assert document.active_content == "an action run on opening (JavaScript); JavaScript"
    await organizations.set_active_content(env, org_id=tenant.org_id, actor=STAFF, allow=True)
    [changed] = await audit_events(
        env, org_id=tenant.org_id, action="organization.active_content_set"
    )
    assert changed.details == {"allow": True}  # set once; setting it again records nothing
    plain = await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, data=SOUND)
    assert plain.active_content is None


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A sound PDF with a few bytes flipped, cut out or put in, or cut short."""
    data = bytearray(SOUND)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if how == "flip":
            data[at] = draw(st.integers(0, 255))
        elif how == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
        if len(data) < 2:
            break
    return bytes(data)


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=mutated())
def test_a_fuzzed_pdf_is_read_or_refused_never_anything_else(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path: Path = tmp_path_factory.mktemp("fuzz") / "upload.pdf"
    path.write_bytes(data)
    try:
        if media.sniff(path) == media.PDF:
            facts = media.inspect_pdf(path, max_text_chars=10_000)
            assert facts.pages >= 1
    except InvalidInput as refused:
        assert str(refused)
