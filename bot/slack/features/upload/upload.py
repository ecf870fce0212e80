"""Saving Slack files as documents: `/inkpost upload`, the "Save to Inkpost" message
shortcut, and files sent to the bot in a direct message.

All three end in the same modal. Its submission is answered at once: problems that need no
download (an empty title, a window that ends before it starts, a file over the size limit)
are shown on the modal's fields; otherwise the modal closes and the files are fetched with
the bot token and streamed through `documents.upload_document`, which checks them as it
does for the CLI. Fetching and checking a large file takes longer than Slack's 3 seconds,
so the result (each document's reference, or why a file was refused) goes to the person's
direct message with the bot, where it stays on record.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.blocks import Message
from bot.slack.feature import Call, Subcommand, Usage, Who
from bot.slack.features.upload import views
from bot.slack.features.upload.views import Outcome, PickedFile
from bot.slack.listeners import RefusingApp, action_value, staff_of, suggestions, team_of, who_of
from bot.slack.views import MAX_OPTIONS, Block, Errors, sentence
from storage.errors import BlobTooLarge, EmptyBlob
from storage.models import Document, Organization
from workflows.context import Env
from workflows.documents import filing
from workflows.errors import InvalidInput, NotAllowed, NotFound, Unavailable, WorkflowError
from workflows.people import organizations
from workflows.people.staff import StaffContext
from workflows.scope import clean_text

CHUNK = 256 * 1024
SLACK_FILE_ORIGINS = frozenset({("https", "files.slack.com"), ("https", "files.slack-gov.com")})
"""Where Slack serves ``url_private_download``; the bot token is sent nowhere else."""
UNSAVABLE_MODES = frozenset({"tombstone", "hidden_by_limit", "external"})
"""Files Slack only shows a trace of (deleted, beyond the plan's history, a link elsewhere)."""
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
log = logging.getLogger(__name__)
T = TypeVar("T")
FAILED = "something went wrong on our side; please try again"


@dataclass(frozen=True)
class SlackFile:
    """A Slack file as far as saving it goes; ``url`` and ``size`` are None until asked."""

    id: str
    name: str
    size: int | None = None
    url: str | None = None
    mimetype: str | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> SlackFile:
        """From a file object in a payload or a files.info answer."""
        size = data.get("size")
        return cls(
            id=str(data.get("id") or ""),
            name=str(data.get("name") or data.get("title") or "document"),
            size=size if isinstance(size, int) else None,
            url=data.get("url_private_download") or None,
            mimetype=data.get("mimetype") or None,
        )


@dataclass(frozen=True)
class UploadForm:
    """A submitted modal, checked: one title per file and what they all share."""

    files: Sequence[tuple[SlackFile, str]]
    category: str
    client_id: int
    available_from: datetime | None
    available_until: datetime | None


class Uploads:
    """`/inkpost upload`, the "Save to Inkpost" shortcut, and files sent in a DM."""

    usage = (
        Usage(
            "upload",
            "save a file as a document (or send me files in a direct message)",
            "/inkpost upload",
        ),
    )

    def __init__(self, env: Env, *, api_url: str | None = None) -> None:
        self.env = env
        self.file_origins = set(SLACK_FILE_ORIGINS)
        if api_url:
            api = urlsplit(api_url)
            self.file_origins.add((api.scheme, api.hostname or ""))

    def subcommands(self) -> Mapping[str, Subcommand]:
        return {"upload": self.upload}

    def register(self, app: RefusingApp) -> None:
        app.shortcut(views.SHORTCUT)(self._shortcut)
        app.action(views.OPEN_BUTTON)(self._open_button)
        app.options(views.CLIENT)(suggestions(self.env, self.client_options))
        app.view(views.CALLBACK)(self._submitted)
        app.event("message", matchers=[_is_dm_with_files])(self._dm_with_files)

    # -- opening the form

    async def upload(self, call: Call) -> Message | None:
        """Open the empty form; anyone who may not upload is told why not (`refuse`)."""
        await self._open(call.who, client=call.client, trigger_id=call.trigger_id, files=())
        return None

    async def _open(
        self, who: Who, *, client: AsyncWebClient, trigger_id: str, files: Sequence[PickedFile]
    ) -> None:
        context = await staff_of(self.env, who)
        view = await self.modal(context, files=files)
        await client.views_open(trigger_id=trigger_id, view=view)

    async def modal(self, context: StaffContext, *, files: Sequence[PickedFile]) -> dict[str, Any]:
        """The form for this organisation: its categories and clients."""
        clients = await organizations.find_clients(
            context.env, org_id=context.org_id, limit=MAX_OPTIONS + 1
        )
        if not clients:
            raise InvalidInput(f"{context.organization.name} has no clients yet; add one first")
        return views.upload_modal(
            files=files,
            categories=context.organization.categories,
            clients=clients if len(clients) <= MAX_OPTIONS else None,
            max_mb=context.env.limits.max_upload_bytes // (1024 * 1024),
        )

    async def _shortcut(
        self, ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        who = who_of(context, body)
        files = savable_files((body.get("message") or {}).get("files") or [])
        if not files:
            raise InvalidInput("this message has no files I can save")
        trigger_id = str(body.get("trigger_id") or "")
        await self._open(who, client=client, trigger_id=trigger_id, files=files)

    async def _open_button(
        self, ack: AsyncAck, body: dict[str, Any], context: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        who = who_of(context, body)
        files = views.decode_files(action_value(body))
        trigger_id = str(body.get("trigger_id") or "")
        await self._open(who, client=client, trigger_id=trigger_id, files=files)

    async def _dm_with_files(
        self, event: dict[str, Any], context: Any, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Offer to save the files; only staff are offered, anyone else learns why not."""
        files = savable_files(event.get("files") or [])
        who = Who(team_id=team_of(context, body), user_id=str(event.get("user") or ""))
        await staff_of(self.env, who)
        if not files:
            raise InvalidInput("I cannot save these files: Slack only shows a trace of them")
        await client.chat_postMessage(
            channel=event["channel"], **views.files_received_message(files)
        )

    async def client_options(self, context: StaffContext, typed: str) -> list[Block]:
        """Clients whose name holds what the user typed."""
        clients = await organizations.find_clients(
            context.env, org_id=context.org_id, words=typed, limit=MAX_OPTIONS
        )
        return [views.client_option(c) for c in clients]

    # -- the submission

    async def _submitted(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        context: Any,
        client: AsyncWebClient,
    ) -> None:
        who = who_of(context, body)
        try:  # like the upload's outcome, a refusal goes to the DM, where it stays on record
            found = await staff_of(self.env, who)
            form, errors = read_form(
                view,
                organization=found.organization,
                now=found.env.clock.now(),
                max_bytes=found.env.limits.max_upload_bytes,
            )
        except WorkflowError as error:
            await ack()
            await client.chat_postMessage(channel=who.user_id, **blocks.refusal(str(error)))
            return
        if form is None:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        await self.save(form, context=found, client=client, user_id=who.user_id)

    async def save(
        self, form: UploadForm, *, context: StaffContext, client: AsyncWebClient, user_id: str
    ) -> None:
        """Store each file as a document and tell the person what became of each."""
        names = [file.name for file, _ in form.files]
        progress = await client.chat_postMessage(channel=user_id, **views.saving_message(names))
        outcomes: list[Outcome] = []
        async with aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as http:
            for file, title in form.files:
                try:
                    document = await self._save_one(
                        file, title=title, form=form, context=context, client=client, http=http
                    )
                except WorkflowError as error:
                    outcomes.append(Outcome(file.name, problem=str(error)))
                except Exception:
                    # The person is waiting on the progress message: it must end either way.
                    log.exception("saving Slack file %s failed", file.id)
                    outcomes.append(Outcome(file.name, problem=FAILED))
                else:
                    outcomes.append(Outcome(file.name, document=document))
        await client.chat_update(
            channel=progress["channel"], ts=progress["ts"], **views.result_message(outcomes)
        )

    async def _save_one(
        self,
        file: SlackFile,
        *,
        title: str,
        form: UploadForm,
        context: StaffContext,
        client: AsyncWebClient,
        http: aiohttp.ClientSession,
    ) -> Document:
        if file.url is None:
            file = await file_info(client, file)
        limit = context.env.limits.max_upload_bytes
        if file.size is not None and file.size > limit:
            raise InvalidInput(str(BlobTooLarge(limit)))
        url = self.download_url(file)
        meta = filing.NewDocument(
            title=title,
            category=form.category,
            client_id=form.client_id,
            filename=file.name,
            available_from=form.available_from,
            available_until=form.available_until,
        )
        async with download(http, file, url=url, token=client.token or "") as content:
            return await filing.upload_document(
                context.env,
                org_id=context.org_id,
                actor=context.actor,
                meta=meta,
                content=content,
                uploaded_by_staff_id=context.staff.id,
            )

    def download_url(self, file: SlackFile) -> str:
        """The file's download address, if it is Slack's: the bot token goes nowhere else."""
        parts = urlsplit(file.url or "")
        if (parts.scheme, parts.hostname) not in self.file_origins:
            raise Unavailable("Slack gave no download address for this file")
        return file.url or ""


# -- Slack files -------------------------------------------------------------------------


async def _is_dm_with_files(event: dict[str, Any]) -> bool:
    """A person's message with files in their direct messages with the bot."""
    return (
        event.get("channel_type") == "im"
        and bool(event.get("files"))
        and not event.get("bot_id")
        and event.get("subtype") in (None, "file_share")
    )


def savable_files(files: Sequence[Mapping[str, Any]]) -> list[PickedFile]:
    """The files of a message that can be fetched, at most a form's worth."""
    picked = [
        PickedFile(id=str(f["id"]), name=str(f.get("name") or f.get("title") or f["id"]))
        for f in files
        if f.get("id") and f.get("mode") not in UNSAVABLE_MODES
    ]
    return picked[: views.MAX_FILES]


async def file_info(client: AsyncWebClient, file: SlackFile) -> SlackFile:
    """The file as Slack describes it now, with its download address and size."""
    try:
        answer = await client.files_info(file=file.id)
    except SlackApiError as e:
        error = str(e.response.get("error") or "")
        if error == "file_deleted":
            raise NotFound("the file is no longer in Slack") from e
        if error == "file_not_found":
            raise NotFound(
                "Slack would not show me the file: it was deleted, or I need to be added "
                "to the channel it was shared in"
            ) from e
        raise Unavailable(f"Slack did not describe the file ({error or 'no answer'})") from e
    described = SlackFile.of(answer.get("file") or {})
    return SlackFile(
        id=file.id,
        name=file.name,
        size=described.size,
        url=described.url,
        mimetype=described.mimetype,
    )


@asynccontextmanager
async def download(
    http: aiohttp.ClientSession, file: SlackFile, *, url: str, token: str
) -> AsyncIterator[AsyncIterator[bytes]]:
    """The file's bytes from Slack as they arrive, fetched with the bot token.

    Refuses anything but the file itself before a byte is read; a broken transfer becomes
    Unavailable, so whoever reads the stream keeps nothing.
    """
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with http.get(url, headers=headers, allow_redirects=False) as response:
            check_download(response, file)
            yield _body(response)
    except (aiohttp.ClientError, TimeoutError) as e:
        raise Unavailable("I could not reach Slack to fetch the file; try again") from e


def check_download(response: aiohttp.ClientResponse, file: SlackFile) -> None:
    """Refuse anything but the file itself: Slack answers a token it does not accept with a
    redirect to its sign-in page, or with that page."""
    if response.status == 404:
        raise NotFound("the file is no longer in Slack")
    if response.status in (401, 403) or 300 <= response.status < 400:
        raise NotAllowed("Slack did not let me download the file")
    if response.status != 200:
        raise Unavailable(f"Slack answered {response.status} when I fetched the file; try again")
    if response.content_type == "text/html" and file.mimetype != "text/html":
        raise NotAllowed("Slack did not let me download the file")


async def _body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as e:
        raise Unavailable("the download from Slack broke off; try again") from e


# -- Reading the form --------------------------------------------------------------------


def read_form(
    view: Mapping[str, Any], *, organization: Organization, now: datetime, max_bytes: int
) -> tuple[UploadForm | None, Errors]:
    """The checked form, or the errors to show on its fields (by block id).

    Only what needs no download is checked here; the workflow checks the rest.
    """
    values: Mapping[str, Mapping[str, Any]] = (view.get("state") or {}).get("values") or {}
    errors: Errors = {}

    def entry(block_id: str) -> Mapping[str, Any]:
        return (values.get(block_id) or {}).get(block_id) or {}

    files = _submitted_files(view, entry(views.FILE), max_bytes=max_bytes, errors=errors)
    titled: list[tuple[SlackFile, str]] = []
    for index, file in enumerate(files):
        block_id = views.title_block(index)
        title = _field(errors, block_id, partial(_title, entry(block_id).get("value")))
        if title is not None:
            titled.append((file, title))
    chosen = _picked(entry(views.CATEGORY))
    category = _field(
        errors, views.CATEGORY, partial(filing.match_category, organization.categories, chosen)
    )
    client_id = _field(errors, views.CLIENT, partial(_client_id, _picked(entry(views.CLIENT))))
    zone = _zone(organization.timezone)
    starts = _day(entry(views.FROM).get("selected_date"), zone)
    ends = _day(entry(views.UNTIL).get("selected_date"), zone, next_day=True)
    _field(errors, views.UNTIL, partial(_check_window, starts=starts, ends=ends, now=now))
    if errors or category is None or client_id is None:
        return None, errors
    form = UploadForm(
        files=titled,
        category=category,
        client_id=client_id,
        available_from=starts,
        available_until=ends,
    )
    return form, {}


def _field(errors: Errors, block_id: str, read: Callable[[], T]) -> T | None:
    """``read()``, or None with its refusal noted against ``block_id``."""
    try:
        return read()
    except InvalidInput as error:
        errors[block_id] = sentence(str(error))
        return None


def _submitted_files(
    view: Mapping[str, Any], entry: Mapping[str, Any], *, max_bytes: int, errors: Errors
) -> list[SlackFile]:
    """The files picked in the form's file input, or those it was opened for."""
    if view.get("private_metadata"):
        return [
            SlackFile(id=f.id, name=f.name) for f in views.decode_files(view["private_metadata"])
        ]
    files = [SlackFile.of(f) for f in entry.get("files") or [] if isinstance(f, Mapping)]
    if not files:
        errors[views.FILE] = "Attach a file"
    for file in files:
        if file.size is not None and file.size > max_bytes:
            errors[views.FILE] = sentence(str(BlobTooLarge(max_bytes)))
        elif file.size == 0:
            errors[views.FILE] = sentence(str(EmptyBlob()))
    return files


def _title(value: Any) -> str:
    title = clean_text(value if isinstance(value, str) else None, what="title", max_len=300)
    assert title is not None
    return title


def _picked(entry: Mapping[str, Any]) -> str:
    option = entry.get("selected_option") or {}
    return str(option.get("value") or "")


def _client_id(value: str) -> int:
    if not value.isdigit():
        raise InvalidInput("pick a client from the list")
    return int(value)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day(value: Any, zone: tzinfo, *, next_day: bool = False) -> datetime | None:
    """Midnight at the start of a picked day in the organisation's zone (or of the day after,
    for a window's last day: it is open until that day ends)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    if next_day:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=zone)


def _check_window(*, starts: datetime | None, ends: datetime | None, now: datetime) -> None:
    if ends is not None and ends <= now:
        raise InvalidInput("that day has passed; the document would never be available")
    if starts is not None and ends is not None and ends <= starts:
        raise InvalidInput("the last day comes before the first day")
