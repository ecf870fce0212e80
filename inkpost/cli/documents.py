"""CLI commands about documents: upload (streamed, with a progress bar), list, show."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inkpost.cli.context import (
    DATE_HELP,
    DocRef,
    JsonOption,
    OrgScope,
    When,
    client_id,
    client_names,
    in_org,
    settings_of,
    when_option,
)
from inkpost.cli.output import Column, emit_json, err, say, show_record, show_rows
from inkpost.errors import UserError
from storage.models import Document
from storage.rows import id_of
from workflows.documents import filing
from workflows.errors import WorkflowError

if TYPE_CHECKING:
    from rich.progress import TaskID

CHUNK = 1024 * 1024

documents_app = typer.Typer(help="Documents of the organisation.", no_args_is_help=True)


def document_row(document: Document, client_names: dict[int, str] | None = None) -> dict[str, Any]:
    return {
        "ref": document.ref,
        "id": document.id,
        "title": document.title,
        "category": document.category,
        "client_id": document.client_id,
        "client": (client_names or {}).get(document.client_id),
        "filename": document.filename,
        "media_type": document.media_type,
        "size": document.size,
        "pages": document.page_count,
        "sha256": document.sha256,
        "version_no": document.version_no,
        "version_of": document.version_of,
        "direction": document.direction,
        "active_content": document.active_content,
        "available_from": document.available_from,
        "available_until": document.available_until,
        "created_at": document.created_at,
    }


DOCUMENT_COLUMNS = (
    Column("ref", "Ref"),
    Column("title", "Title"),
    Column("category", "Category"),
    Column("client", "Client"),
    Column("version_no", "Ver", "right"),
    Column("pages", "Pages", "right"),
    Column("size", "Bytes", "right"),
    Column("created_at", "Added"),
)


# Upload -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int


def check_files(paths: list[Path], *, max_bytes: int) -> list[LocalFile]:
    """Refuse the whole batch before anything is stored if any file cannot be sent."""
    checked: list[LocalFile] = []
    for path in paths:
        if not path.exists():
            raise UserError(f"{path}: no such file")
        if not path.is_file():
            raise UserError(f"{path}: not a regular file")
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as e:
            raise UserError(f"{path}: cannot be read ({e.strerror or e})") from e
        size = path.stat().st_size
        if size == 0:
            raise UserError(f"{path}: file is empty")
        if size > max_bytes:
            raise UserError(
                f"{path}: file is larger than the limit of {max_bytes // (1024 * 1024)} MB"
            )
        checked.append(LocalFile(path, size))
    return checked


async def read_chunks(path: Path, *, advance: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The file's bytes in chunks read off the event loop, reporting each chunk read."""
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK):
            advance(len(chunk))
            yield chunk
    finally:
        handle.close()


@contextmanager
def upload_progress(
    files: list[LocalFile],
) -> Iterator[Callable[[LocalFile], Callable[[int], None]]]:
    """A progress bar per file (and one overall for several) on stderr, when it is a
    terminal (TTY_COMPATIBLE=1 forces it).

    Yields ``start(file) -> advance(nbytes)``.
    """
    from rich.progress import (  # the progress bars, only for an upload
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )
    overall: TaskID | None = None
    if len(files) > 1:
        total = sum(f.size for f in files)
        overall = progress.add_task(f"{len(files)} files", total=total)

    def start(file: LocalFile) -> Callable[[int], None]:
        task = progress.add_task(file.path.name, total=file.size)

        def advance(nbytes: int) -> None:
            progress.advance(task, nbytes)
            if overall is not None:
                progress.advance(overall, nbytes)

        return advance

    with progress:
        yield start


def upload(
    ctx: typer.Context,
    *,
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Files to upload.", show_default=False)
    ],
    title: Annotated[
        str | None,
        typer.Option(
            help="Title (default: the file name without its extension; for a new version, "
            "the document's title).",
            show_default=False,
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            help="Category, e.g. contract or 'fee table' (default: the earlier version's, "
            "else 'other').",
            show_default=False,
        ),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option(
            help="Client id or name (default: the earlier version's).", show_default=False
        ),
    ] = None,
    available_from: Annotated[
        When | None,
        when_option(
            "--from",
            "Available from: a date (from the start of that day) or a "
            "date-time, in the organisation's time zone unless it names one.",
        ),
    ] = None,
    available_until: Annotated[
        When | None, when_option("--until", f"Available until: {DATE_HELP}.")
    ] = None,
    version_of: Annotated[
        str | None,
        typer.Option(
            "--version-of",
            metavar="DOC",
            help="Upload as a new version of this document.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload files onto the durable medium, each as a document.

    A file whose name promises another type than its content is refused, and so is a new
    version identical to the one before; a file already stored as another document is
    stored again, with a note naming that document."""
    if title is not None and len(files) > 1:
        raise UserError("--title names a single document: give it only with one file")
    settings = settings_of(ctx)
    checked = check_files(files, max_bytes=settings.max_upload_bytes)

    async def work(scope: OrgScope) -> list[Uploaded]:
        previous = None
        if version_of is not None:
            previous = await filing.find_document(scope.env, org_id=scope.org_id, ref=version_of)
        if client is not None:
            owner = await client_id(scope, client)
        elif previous is not None:
            owner = previous.client_id
        else:
            raise UserError("name the client the documents belong to with --client")
        if category is not None:
            kind = category
        elif previous is not None:
            kind = previous.category
        else:
            kind = filing.default_category(scope.org.categories)
        zone = scope.org.timezone
        uploaded: list[Uploaded] = []
        with upload_progress(checked) as start:
            for file in checked:
                meta = filing.NewDocument(
                    title=title or (previous.title if previous is not None else file.path.stem),
                    category=kind,
                    client_id=owner,
                    filename=file.path.name,
                    available_from=available_from.starting(zone) if available_from else None,
                    available_until=available_until.ending(zone) if available_until else None,
                    version_of=previous.id if previous is not None else None,
                )
                try:
                    document = await filing.upload_document(
                        scope.env,
                        org_id=scope.org_id,
                        actor=scope.actor,
                        meta=meta,
                        content=read_chunks(file.path, advance=start(file)),
                    )
                except WorkflowError as e:
                    e.add_note(f"file {file.path}")
                    if uploaded:
                        e.add_note(
                            "already uploaded: " + ", ".join(u.document.ref for u in uploaded)
                        )
                    raise
                twins = await filing.same_content(scope.env, org_id=scope.org_id, document=document)
                uploaded.append(Uploaded(document, [t.ref for t in twins]))
        names = await client_names(scope)
        return [replace(u, row=document_row(u.document, names)) for u in uploaded]

    uploaded = in_org(ctx, work)
    if as_json:
        emit_json([{**u.row, "same_content_as": u.same_content_as} for u in uploaded])
        return
    for item in uploaded:
        document = item.document
        say(
            f"Uploaded {document.ref} “{document.title}” ({document.category}, "
            f"{_pages(document)}{document.size:,} bytes, sha256 {document.sha256[:12]}…)"
        )
        if item.same_content_as:
            say(f"  Note: the same bytes are already stored as {', '.join(item.same_content_as)}.")


@dataclass(frozen=True)
class Uploaded:
    """A stored document, its row, and the other documents holding the same bytes."""

    document: Document
    same_content_as: list[str]
    row: dict[str, Any] = field(default_factory=dict)


def _pages(document: Document) -> str:
    if document.page_count is None:
        return ""
    return f"{document.page_count} page{'s' if document.page_count != 1 else ''}, "


# Listing and showing ------------------------------------------------------------------


@documents_app.command("list")
def documents_list(
    ctx: typer.Context,
    *,
    client: Annotated[str | None, typer.Option(help="Only this client (id or name).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List documents, newest first."""

    async def work(scope: OrgScope) -> list[dict[str, Any]]:
        names = await client_names(scope)
        found = await filing.list_documents(
            scope.env,
            org_id=scope.org_id,
            client_id=await client_id(scope, client) if client else None,
            limit=limit,
        )
        return [document_row(d, names) for d in found]

    show_rows(in_org(ctx, work), columns=DOCUMENT_COLUMNS, title="Documents", as_json=as_json)


@documents_app.command("show")
def documents_show(ctx: typer.Context, ref: DocRef, as_json: JsonOption = False) -> None:
    """Show a document, its versions and its shares."""
    from inkpost.cli.sharing import SHARE_COLUMNS, share_row  # shares: only `show` lists them
    from workflows.sharing import sharing

    async def work(scope: OrgScope) -> dict[str, Any]:
        document = await filing.find_document(scope.env, org_id=scope.org_id, ref=ref)
        document_id = id_of(document)
        names = await client_names(scope)
        chain = await filing.versions(scope.env, org_id=scope.org_id, document_id=document_id)
        shares = await sharing.list_shares(scope.env, org_id=scope.org_id, document_id=document_id)
        now = scope.env.clock.now()
        return {
            **document_row(document, names),
            "versions": [document_row(d, names) for d in chain],
            "shares": [share_row(s, now) for s in shares],
        }

    record = in_org(ctx, work)
    if as_json:
        emit_json(record)
        return
    fields = {k: v for k, v in record.items() if k not in ("versions", "shares")}
    show_record(fields, title=f"{record['ref']} {record['title']}", as_json=False)
    if len(record["versions"]) > 1:
        show_rows(record["versions"], columns=DOCUMENT_COLUMNS, title="Versions", as_json=False)
    show_rows(record["shares"], columns=SHARE_COLUMNS, title="Shares", as_json=False)
