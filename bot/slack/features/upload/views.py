"""Block Kit for saving Slack files as documents: the upload modal and the messages around it.

The modal has one title per file. Opened by `/inkpost upload` it carries a file input;
opened for files already in Slack (a message shortcut, files sent in a direct message) it
lists their names and carries their ids in ``private_metadata``, as a file input cannot be
filled in advance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from bot.slack.blocks import Message, escape
from bot.slack.views import (
    MAX_OPTIONS,
    Block,
    View,
    actions,
    button,
    context_block,
    input_block,
    modal_view,
    option,
    placeholder,
    section,
    sentence,
)
from storage.models import Client, Document
from storage.rows import id_of
from workflows.errors import InvalidInput
from workflows.media import ACCEPTED, EXTENSIONS

CALLBACK = "inkpost_upload"
SHORTCUT = "save_to_inkpost"
OPEN_BUTTON = "upload_open"
FILE = "upload_file"
CATEGORY = "upload_category"
CLIENT = "upload_client"
FROM = "upload_from"
UNTIL = "upload_until"
TITLE_PREFIX = "upload_title_"

MAX_FILES = 10
"""Slack's limit for a file input and for the files of one message."""
FILETYPES = sorted({ext.lstrip(".") for ext in EXTENSIONS.values()} | {"jpeg"})
"""The file name extensions of what the store accepts; Slack's picker offers only these."""
SHOWN_NAME = 80
"""File names are cut to this in buttons and metadata, which Slack keeps short."""


@dataclass(frozen=True)
class PickedFile:
    """A file already in Slack, chosen to be saved: its id, and its name to show."""

    id: str
    name: str


@dataclass(frozen=True)
class Outcome:
    """What became of one file: the document it is now, or why it is not one."""

    name: str
    document: Document | None = None
    problem: str | None = None


def title_block(index: int) -> str:
    return f"{TITLE_PREFIX}{index}"


def encode_files(files: Sequence[PickedFile]) -> str:
    """Files as a button value or ``private_metadata`` (both limited to a few KB)."""
    pairs = [[f.id, f.name[:SHOWN_NAME]] for f in files[:MAX_FILES]]
    return json.dumps(pairs, ensure_ascii=False, separators=(",", ":"))


def decode_files(text: str) -> list[PickedFile]:
    """The files `encode_files` wrote; InvalidInput for anything else."""
    try:
        pairs = json.loads(text)
    except ValueError as e:
        raise InvalidInput("this form does not name any file; open it again") from e
    if not isinstance(pairs, list) or not pairs:
        raise InvalidInput("this form does not name any file; open it again")
    files: list[PickedFile] = []
    for pair in pairs[:MAX_FILES]:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            raise InvalidInput("this form does not name any file; open it again")
        files.append(PickedFile(id=pair[0], name=pair[1]))
    return files


def _title_input(index: int, *, label: str, initial: str | None) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": title_block(index),
        "max_length": 300,
        "placeholder": placeholder("e.g. Fee table 2027"),
    }
    if initial:
        element["initial_value"] = initial[:300]
    return input_block(title_block(index), label, element)


def _file_input(max_mb: int) -> Block:
    element = {"type": "file_input", "action_id": FILE, "filetypes": FILETYPES, "max_files": 1}
    hint = (
        f"{ACCEPTED}, up to {max_mb} MB. "
        "To save several files at once, send them to me in a direct message."
    )
    return input_block(FILE, "File", element, hint=hint)


def _category_input(categories: Sequence[str]) -> Block:
    element = {
        "type": "static_select",
        "action_id": CATEGORY,
        "placeholder": placeholder("Pick a category"),
        "options": [option(c, c[:150]) for c in categories[:MAX_OPTIONS]],
    }
    return input_block(CATEGORY, "Category", element)


def _client_input(clients: Sequence[Client] | None) -> Block:
    """A static select of ``clients``, or a searched one when there are too many (None)."""
    element: Block = {"action_id": CLIENT, "placeholder": placeholder("Pick a client")}
    if clients is None:
        element.update(type="external_select", min_query_length=1)
        element["placeholder"] = placeholder("Type part of the client's name")
    else:
        element.update(
            type="static_select",
            options=[client_option(c) for c in clients[:MAX_OPTIONS]],
        )
    return input_block(CLIENT, "Client", element)


def client_option(client: Client) -> Block:
    return option(client.name, str(id_of(client)))


def _date_input(block_id: str, label: str, hint: str) -> Block:
    element = {"type": "datepicker", "action_id": block_id}
    return input_block(block_id, label, element, optional=True, hint=hint)


def _stem(name: str) -> str:
    return PurePosixPath(name).stem or name


def upload_modal(
    *,
    files: Sequence[PickedFile],
    categories: Sequence[str],
    clients: Sequence[Client] | None,
    max_mb: int,
) -> View:
    """The form for saving ``files`` (or, when there are none, a file picked in it).

    ``clients`` None means too many to list: the client is searched as the user types.
    """
    view_blocks: list[Block] = []
    if files:
        names = "\n".join(f"• {escape(f.name)}" for f in files)
        each = "one document each" if len(files) > 1 else "saved as one document"
        view_blocks.append(section(f"*{len(files)} file{'s' * (len(files) > 1)}* ({each})"))
        view_blocks.append(context_block(names))
        for index, file in enumerate(files):
            label = "Title" if len(files) == 1 else f"Title of {file.name}"
            view_blocks.append(_title_input(index, label=label, initial=_stem(file.name)))
    else:
        view_blocks.append(_file_input(max_mb))
        view_blocks.append(_title_input(0, label="Title", initial=None))
    view_blocks += [
        _category_input(categories),
        _client_input(clients),
        _date_input(FROM, "Available from", "Leave empty to make it available at once."),
        _date_input(UNTIL, "Available until", "The last day it can be opened; empty: no end."),
    ]
    return modal_view(
        CALLBACK,
        title="Save to Inkpost",
        submit="Save",
        private_metadata=encode_files(files) if files else "",
        blocks=view_blocks,
    )


def files_received_message(files: Sequence[PickedFile]) -> Message:
    """The answer to files sent in a direct message: a button that opens the form."""
    count = f"{len(files)} file{'s' * (len(files) > 1)}"
    names = ", ".join(escape(f.name) for f in files)
    return {
        "text": f"Save {count} to Inkpost?",
        "blocks": [
            section(f"Save {count} to Inkpost? {names}"),
            actions(
                [button(OPEN_BUTTON, "Save to Inkpost…", encode_files(files), style="primary")]
            ),
        ],
    }


def saving_message(names: Sequence[str]) -> Message:
    text = f"Saving {', '.join(names)}…"
    return {"text": text, "blocks": [context_block(f":hourglass_flowing_sand: {escape(text)}")]}


def _pages(document: Document) -> str:
    if document.page_count is None:
        return ""
    return f"{document.page_count} page{'s' * (document.page_count != 1)} · "


def _saved_line(document: Document) -> str:
    return (
        f":white_check_mark: *{document.ref}* {escape(document.title)}\n"
        f"{escape(document.category)} · {_pages(document)}{document.size:,} bytes"
    )


def _refused_line(outcome: Outcome) -> str:
    problem = sentence(outcome.problem or "it could not be saved")
    return f":warning: *{escape(outcome.name)}* was not saved. {escape(problem)}"


def result_message(outcomes: Sequence[Outcome]) -> Message:
    """What became of each file: its document reference and title, or the refusal."""
    lines: list[str] = []
    summary: list[str] = []
    for outcome in outcomes:
        if outcome.document is not None:
            lines.append(_saved_line(outcome.document))
            summary.append(f"Saved {outcome.document.ref} “{outcome.document.title}”")
        else:
            lines.append(_refused_line(outcome))
            summary.append(f"{outcome.name} was not saved: {outcome.problem}")
    return {"text": "; ".join(summary)[:3000], "blocks": [section(line) for line in lines]}
