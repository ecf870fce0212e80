"""Staff save Slack files as documents: `/inkpost upload`, the "Save to Inkpost" shortcut,
and files sent to the bot in a direct message; every refusal stores nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bot.slack.features.upload import views
from inkpost.sample_pdf import make_pdf
from storage.models import Document
from tests.conftest import STAFF
from tests.damaged_pdfs import damaged, hostile
from tests.fakes.slack_api import GENERAL_CHANNEL, PostedMessage
from tests.helpers import blob_files
from tests.scenarios.slack_stage import BORIS, NINA, STELLA, Stage
from workflows.documents import filing
from workflows.people import organizations

PDF = make_pdf("Engagement letter", pages=2)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(512)


async def stored(stage: Stage) -> Sequence[Document]:
    return await filing.list_documents(stage.env, org_id=stage.org_id)


async def open_upload(stage: Stage, user_id: str = STELLA) -> dict[str, Any]:
    response = await stage.slack.command(user_id, "upload")
    assert response.status == 200
    views_open: list[dict[str, Any]] = await stage.fake.wait_for(
        lambda: stage.fake.open_views(user_id), what="the upload modal"
    )
    return views_open[-1]


def form(*, title: str = "Engagement letter", **more: Any) -> dict[str, Any]:
    """What the user fills in besides the file(s); ``client`` must be added."""
    return {views.title_block(0): title, views.CATEGORY: "contract", **more}


async def submit(
    stage: Stage, view: Mapping[str, Any], values: Mapping[str, Any], user_id: str = STELLA
) -> None:
    response = await stage.slack.view_submission(user_id, dict(view), values)
    assert response.status == 200


async def result(stage: Stage, user_id: str = STELLA) -> PostedMessage:
    """The message that ends an upload: the "Saving…" message as the bot updated it."""
    done: list[PostedMessage] = await stage.fake.wait_for(
        lambda: [m for m in stage.fake.messages_to(user_id) if m.edits],
        what="the upload result",
    )
    return done[-1]


def picked(stage: Stage, name: str, data: bytes, mimetype: str) -> dict[str, Any]:
    return stage.fake.user_uploads_file(STELLA, name, data, mimetype)


# -- /inkpost upload -----------------------------------------------------------------------


async def test_upload_modal_saves_the_picked_file_as_a_document(stage: Stage) -> None:
    view = await open_upload(stage)
    file = picked(stage, "engagement-letter.pdf", PDF, "application/pdf")

    await submit(
        stage,
        view,
        form(
            **{views.FILE: [file], views.CLIENT: str(stage.client_id)},
            **{views.FROM: date(2026, 12, 1), views.UNTIL: date(2026, 12, 31)},
        ),
    )
    message = await result(stage)

    assert stage.fake.open_views(STELLA) == [], "the modal closes at once"
    [document] = await stored(stage)
    assert document.title == "Engagement letter" and document.category == "contract"
    assert document.client_id == stage.client_id
    assert document.filename == "engagement-letter.pdf" and document.page_count == 2
    assert document.sha256 == hashlib.sha256(PDF).hexdigest() and document.size == len(PDF)
    assert document.available_from == datetime(2026, 12, 1, tzinfo=UTC)
    assert document.available_until == datetime(2027, 1, 1, tzinfo=UTC), "the whole last day"
    assert document.uploaded_by_staff_id is not None
    assert f"Saved {document.ref} “Engagement letter”" in message.text
    assert document.ref in str(message.blocks)
    assert stage.fake.requests_for("download"), "fetched from Slack with the bot token"


async def test_upload_modal_offers_the_organisations_categories_and_clients(stage: Stage) -> None:
    view = await open_upload(stage)

    blocks = {b["block_id"]: b for b in view["blocks"]}
    categories = [o["value"] for o in blocks[views.CATEGORY]["element"]["options"]]
    clients = blocks[views.CLIENT]["element"]
    assert categories == ["contract", "annex", "fee table", "invoice", "statement", "other"]
    assert clients["type"] == "static_select"
    assert [o["text"]["text"] for o in clients["options"]] == ["Nordic Timber"]
    assert blocks[views.FILE]["element"]["type"] == "file_input"


async def test_many_clients_are_searched_and_only_this_organisations(stage: Stage) -> None:
    for number in range(views.MAX_OPTIONS + 1):
        await organizations.add_client(
            stage.env, org_id=stage.org_id, actor=STAFF, name=f"Client {number:03d}"
        )
    other = await organizations.create_organization(
        stage.env, slug="rival", name="Rival Law", actor=STAFF
    )
    assert other.id is not None
    await organizations.add_client(stage.env, org_id=other.id, actor=STAFF, name="Nordic Rival")
    view = await open_upload(stage)

    answer = await stage.slack.block_suggestion(STELLA, views.CLIENT, "nordic", view=view)

    element = next(b for b in view["blocks"] if b["block_id"] == views.CLIENT)["element"]
    assert element["type"] == "external_select"
    assert [o["text"]["text"] for o in answer["options"]] == ["Nordic Timber"]
    assert answer["options"][0]["value"] == str(stage.client_id)


@pytest.mark.parametrize(
    ("values", "block_id", "error"),
    [
        ({views.title_block(0): "   "}, views.title_block(0), "Title must not be empty"),
        (
            {views.FROM: date(2026, 12, 10), views.UNTIL: date(2026, 12, 9)},
            views.UNTIL,
            "The last day comes before the first day",
        ),
        ({views.UNTIL: date(2026, 11, 20)}, views.UNTIL, "That day has passed"),
    ],
    ids=["blank-title", "until-before-from", "until-passed"],
)
async def test_bad_fields_are_shown_on_the_modal_and_nothing_is_fetched(
    stage: Stage, values: dict[str, Any], block_id: str, error: str
) -> None:
    view = await open_upload(stage)
    file = picked(stage, "letter.pdf", PDF, "application/pdf")

    await submit(
        stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id), **values}
    )

    [(view_id, errors)] = stage.fake.view_errors
    assert view_id == view["id"] and list(errors) == [block_id]
    assert errors[block_id].startswith(error)
    assert stage.fake.open_views(STELLA), "the modal stays open to be corrected"
    assert stage.fake.requests_for("download") == []
    assert await stored(stage) == []


async def test_file_over_the_size_limit_is_refused_on_its_field(stage: Stage) -> None:
    limit = stage.env.limits.max_upload_bytes
    view = await open_upload(stage)
    file = picked(stage, "huge.pdf", PDF + b"\n" * (limit + 1 - len(PDF)), "application/pdf")

    await submit(stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id)})

    [(_, errors)] = stage.fake.view_errors
    assert errors == {views.FILE: "File is larger than the limit of 2 MB"}
    assert stage.fake.requests_for("download") == []
    assert await stored(stage) == []


async def test_file_that_is_not_what_its_name_says_is_refused_and_not_kept(stage: Stage) -> None:
    view = await open_upload(stage)
    file = picked(stage, "invoice.pdf", EXE, "application/pdf")

    await submit(stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id)})
    message = await result(stage)

    assert "invoice.pdf was not saved: this kind of file is not accepted" in message.text
    assert await stored(stage) == []
    assert blob_files(stage.env.blobs.staging_dir) == []


async def test_file_deleted_in_slack_before_saving_is_reported(stage: Stage) -> None:
    view = await open_upload(stage)
    file = picked(stage, "letter.pdf", PDF, "application/pdf")
    stage.fake.user_deletes_file(file["id"])

    await submit(stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id)})
    message = await result(stage)

    assert "letter.pdf was not saved: the file is no longer in Slack" in message.text
    assert await stored(stage) == []


async def test_unknown_user_is_told_whom_to_ask_and_gets_no_modal(stage: Stage) -> None:
    answer = await stage.command(NINA, "upload")

    assert "ask Stella Staff" in (answer.text or "")
    assert stage.fake.open_views(NINA) == []


async def test_staff_blocked_while_the_modal_was_open_cannot_save(stage: Stage) -> None:
    view = await open_upload(stage, BORIS)
    file = stage.fake.user_uploads_file(BORIS, "letter.pdf", PDF, "application/pdf")
    await organizations.set_staff_status(
        stage.env, org_id=stage.org_id, actor=STAFF, staff_id=stage.boris_id, blocked=True
    )

    await submit(
        stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id)}, BORIS
    )
    [refusal] = await stage.fake.wait_for_messages(stage.fake.dm_channel(BORIS))

    assert "blocked" in refusal.text
    assert stage.fake.requests_for("download") == []
    assert await stored(stage) == []


async def test_a_client_of_another_organisation_is_not_found(stage: Stage) -> None:
    other = await organizations.create_organization(
        stage.env, slug="rival", name="Rival Law", actor=STAFF
    )
    assert other.id is not None
    theirs = await organizations.add_client(
        stage.env, org_id=other.id, actor=STAFF, name="Their Client"
    )
    view = await open_upload(stage)
    file = picked(stage, "letter.pdf", PDF, "application/pdf")
    forged = {"text": {"type": "plain_text", "text": "Their Client"}, "value": str(theirs.id)}

    await submit(stage, view, {**form(), views.FILE: [file], views.CLIENT: forged})
    message = await result(stage)

    assert f"client {theirs.id} not found" in message.text.lower()
    assert await stored(stage) == []


# -- "Save to Inkpost" on a message ---------------------------------------------------------


async def test_shortcut_saves_each_file_of_a_message_as_its_own_document(stage: Stage) -> None:
    letter = picked(stage, "letter.pdf", PDF, "application/pdf")
    scan = picked(stage, "signature-scan.png", PNG, "image/png")
    message = stage.fake.user_posts_message(
        STELLA, "for the file", channel_id=GENERAL_CHANNEL, files=[letter, scan]
    )

    response = await stage.slack.message_shortcut(STELLA, views.SHORTCUT, message)
    [view] = await stage.fake.wait_for(lambda: stage.fake.open_views(STELLA), what="the modal")

    shown = str(view["blocks"])
    assert "letter.pdf" in shown and "signature-scan.png" in shown
    assert response.status == 200
    titles = [b for b in view["blocks"] if b["block_id"].startswith(views.TITLE_PREFIX)]
    assert [b["element"].get("initial_value") for b in titles] == ["letter", "signature-scan"]
    await submit(
        stage,
        view,
        {
            views.title_block(0): "Engagement letter",
            views.title_block(1): "Signed page",
            views.CATEGORY: "contract",
            views.CLIENT: str(stage.client_id),
        },
    )
    done = await result(stage)

    by_title = {d.title: d for d in await stored(stage)}
    assert set(by_title) == {"Engagement letter", "Signed page"}
    assert by_title["Signed page"].media_type == "image/png"
    assert by_title["Signed page"].sha256 == hashlib.sha256(PNG).hexdigest()
    for document in by_title.values():
        assert document.ref in done.text
    assert len(stage.fake.requests_for("files.info")) == 2


async def test_shortcut_refuses_a_message_without_files(stage: Stage) -> None:
    message = stage.fake.user_posts_message(STELLA, "no files here", channel_id=GENERAL_CHANNEL)

    await stage.slack.message_shortcut(STELLA, views.SHORTCUT, message)
    answer = await stage.fake.wait_for(lambda: stage.fake.responses, what="a refusal")

    assert answer[-1].text == "This message has no files I can save"
    assert stage.fake.open_views(STELLA) == []


async def test_shortcut_refuses_someone_who_is_not_staff(stage: Stage) -> None:
    file = stage.fake.user_uploads_file(NINA, "letter.pdf", PDF, "application/pdf")
    message = stage.fake.user_posts_message(NINA, "", channel_id=GENERAL_CHANNEL, files=[file])

    await stage.slack.message_shortcut(NINA, views.SHORTCUT, message)
    answer = await stage.fake.wait_for(lambda: stage.fake.responses, what="a refusal")

    assert "not registered as staff" in (answer[-1].text or "")
    assert stage.fake.open_views(NINA) == []


async def test_wrong_kind_of_file_from_a_message_is_refused(stage: Stage) -> None:
    setup = picked(stage, "setup.exe", EXE, "application/x-msdownload")
    message = stage.fake.user_posts_message(STELLA, "", channel_id=GENERAL_CHANNEL, files=[setup])
    await stage.slack.message_shortcut(STELLA, views.SHORTCUT, message)
    [view] = await stage.fake.wait_for(lambda: stage.fake.open_views(STELLA), what="the modal")

    await submit(stage, view, {**form(title="Setup"), views.CLIENT: str(stage.client_id)})
    done = await result(stage)

    assert "setup.exe was not saved: this kind of file is not accepted" in done.text
    assert await stored(stage) == []
    assert blob_files(stage.env.blobs.staging_dir) == []


async def test_file_slack_no_longer_shows_is_reported_and_the_others_saved(stage: Stage) -> None:
    letter = picked(stage, "letter.pdf", PDF, "application/pdf")
    gone = picked(stage, "draft.pdf", PDF, "application/pdf")
    message = stage.fake.user_posts_message(
        STELLA, "", channel_id=GENERAL_CHANNEL, files=[letter, gone]
    )
    await stage.slack.message_shortcut(STELLA, views.SHORTCUT, message)
    [view] = await stage.fake.wait_for(lambda: stage.fake.open_views(STELLA), what="the modal")
    stage.fake.user_deletes_file(gone["id"])

    await submit(
        stage, view, {**form(), views.title_block(1): "Draft", views.CLIENT: str(stage.client_id)}
    )
    done = await result(stage)

    [document] = await stored(stage)
    assert document.title == "Engagement letter"
    assert f"Saved {document.ref}" in done.text
    assert "draft.pdf was not saved: Slack would not show me the file" in done.text


async def test_too_big_file_from_a_message_is_refused_before_it_is_fetched(stage: Stage) -> None:
    limit = stage.env.limits.max_upload_bytes
    big = picked(stage, "scan.pdf", PDF + b"\n" * limit, "application/pdf")
    message = stage.fake.user_posts_message(STELLA, "", channel_id=GENERAL_CHANNEL, files=[big])
    await stage.slack.message_shortcut(STELLA, views.SHORTCUT, message)
    [view] = await stage.fake.wait_for(lambda: stage.fake.open_views(STELLA), what="the modal")

    await submit(stage, view, {**form(), views.CLIENT: str(stage.client_id)})
    done = await result(stage)

    assert "scan.pdf was not saved: file is larger than the limit of 2 MB" in done.text
    assert stage.fake.requests_for("download") == []
    assert await stored(stage) == []


# -- Files sent in a direct message ---------------------------------------------------------


async def test_files_sent_in_a_dm_are_offered_and_saved_from_its_button(stage: Stage) -> None:
    letter = picked(stage, "letter.pdf", PDF, "application/pdf")
    event = stage.fake.user_posts_message(STELLA, "please file this", files=[letter])
    dm = event["channel"]

    await stage.slack.event(event)
    [offer] = await stage.fake.wait_for_messages(dm)
    assert "letter.pdf" in offer.text + str(offer.blocks)
    await stage.slack.block_action(STELLA, views.OPEN_BUTTON, message=offer)
    [view] = await stage.fake.wait_for(lambda: stage.fake.open_views(STELLA), what="the modal")
    await submit(stage, view, {**form(), views.CLIENT: str(stage.client_id)})
    done = await result(stage)

    [document] = await stored(stage)
    assert document.title == "Engagement letter" and document.filename == "letter.pdf"
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert f"Saved {document.ref}" in done.text


async def test_files_sent_in_a_dm_by_someone_unknown_are_refused(stage: Stage) -> None:
    letter = stage.fake.user_uploads_file(NINA, "letter.pdf", PDF, "application/pdf")
    event = stage.fake.user_posts_message(NINA, "", files=[letter])

    await stage.slack.event(event)
    [answer] = await stage.fake.wait_for_messages(event["channel"])

    assert "ask Stella Staff" in answer.text
    assert answer.action_ids() == []


async def test_a_dm_without_files_gets_no_offer(stage: Stage) -> None:
    event = stage.fake.user_posts_message(STELLA, "hello")

    response = await stage.slack.event(event)
    # The work of an event starts before its ack: an answer to "hello" would come before
    # the offer for files sent once "hello" was acknowledged.
    letter = picked(stage, "letter.pdf", PDF, "application/pdf")
    await stage.slack.event(stage.fake.user_posts_message(STELLA, "", files=[letter]))
    [offer] = await stage.fake.wait_for_messages(event["channel"])

    assert response.status == 200
    assert "letter.pdf" in offer.text + str(offer.blocks)


async def test_a_rate_limited_modal_waits_its_retry_after_and_opens(stage: Stage) -> None:
    stage.fake.throttle(1, methods=["views.open"], retry_after=1)

    view = await open_upload(stage)

    assert view["blocks"]
    assert [r.status for r in stage.fake.requests_for("views.open")] == [429, 200]


@pytest.mark.parametrize("name", ["page tree that loops", "JavaScript on opening"])
async def test_a_damaged_or_hostile_pdf_is_refused_and_not_kept(stage: Stage, name: str) -> None:
    data = {**damaged(), **hostile()}[name]
    view = await open_upload(stage)
    file = picked(stage, "letter.pdf", data, "application/pdf")

    await submit(stage, view, {**form(), views.FILE: [file], views.CLIENT: str(stage.client_id)})
    message = await result(stage)

    assert "letter.pdf was not saved: the PDF" in message.text
    assert await stored(stage) == []
    assert blob_files(stage.env.blobs.root) == []
