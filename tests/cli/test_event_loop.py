"""The serving event loop: uvloop's, sending files through ``os.sendfile``."""

from __future__ import annotations

import asyncio
import io
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from inkpost import event_loop

pytestmark = pytest.mark.skipif(event_loop.Loop is None, reason="uvloop has no build here")

SIZE = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts ``os.sendfile`` was asked for."""
    calls: list[int] = []
    real = os.sendfile

    def counted(out: int, source: int, offset: int, count: int) -> int:
        calls.append(count)
        return real(out, source, offset, count)

    monkeypatch.setattr(os, "sendfile", counted)
    return calls


@asynccontextmanager
async def file_server(path: Path) -> AsyncIterator[int]:
    """A bare aiohttp app answering ``GET /f`` with ``path``; yields its port."""

    async def send(_: web.Request) -> web.FileResponse:
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/f", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def run_served(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        assert isinstance(asyncio.get_running_loop(), event_loop.Loop)
        return await scenario()

    return event_loop.run(main())


def test_a_whole_file_and_a_range_go_through_sendfile(
    big_file: Path, sendfile_calls: list[int]
) -> None:
    async def scenario() -> tuple[bytes, bytes]:
        async with file_server(big_file) as port, ClientSession() as http:
            url = f"http://127.0.0.1:{port}/f"
            async with http.get(url) as whole:
                assert whole.status == 200
                everything = await whole.read()
            async with http.get(url, headers={"Range": "bytes=1000-1999999"}) as part:
                assert part.status == 206
                some = await part.read()
        return everything, some

    everything, some = run_served(scenario)
    content = big_file.read_bytes()
    assert everything == content
    assert some == content[1000:2_000_000]
    assert sendfile_calls, "the file was copied, not sent"
    assert sendfile_calls[0] == SIZE


def test_a_slow_reader_gets_every_byte_in_order(big_file: Path, sendfile_calls: list[int]) -> None:
    """The socket fills up: sending waits for room and goes on where it stopped."""

    async def scenario() -> bytes:
        async with file_server(big_file) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            writer.write(b"GET /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await asyncio.sleep(0.3)  # the server meets a full socket
            received = await reader.read()
            writer.close()
            return received

    received = run_served(scenario)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == big_file.read_bytes()
    assert len(sendfile_calls) > 1, "sendfile never had to wait for room"


def test_a_client_that_goes_away_leaves_no_descriptor_behind(big_file: Path) -> None:
    def descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def scenario() -> tuple[int, int, bytes]:
        async with file_server(big_file) as port:
            url = f"http://127.0.0.1:{port}/f"
            async with ClientSession() as http, http.get(url) as warm:
                await warm.read()
            before = descriptors()
            for _ in range(3):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.get_extra_info("socket").setsockopt(
                    socket.SOL_SOCKET, socket.SO_RCVBUF, 4096
                )
                writer.write(b"GET /f HTTP/1.1\r\nHost: x\r\n\r\n")
                await reader.read(10_000)
                writer.transport.abort()  # gone mid-file
            await asyncio.sleep(0.3)
            after = descriptors()
            async with ClientSession() as http, http.get(url) as again:
                served = await again.read()
        return before, after, served

    before, after, served = run_served(scenario)
    assert after <= before
    assert served == big_file.read_bytes()


def test_what_the_transport_holds_goes_first(tmp_path: Path) -> None:
    """Bytes written before the file, still waiting in the transport, are not overtaken."""
    prefix = os.urandom(16 * 1024 * 1024)  # more than the socket's buffers hold
    path = tmp_path / "tail.bin"
    path.write_bytes(os.urandom(2 * 1024 * 1024))

    async def scenario() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        sent: asyncio.Future[int] = loop.create_future()

        class Sender(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transport.write(prefix)  # type: ignore[attr-defined]
                assert transport.get_write_buffer_size() > 0  # type: ignore[attr-defined]
                loop.create_task(self.send(transport))

            async def send(self, transport: Any) -> None:
                with path.open("rb") as file:
                    sent.set_result(await loop.sendfile(transport, file))
                transport.close()

        server = await loop.create_server(Sender, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.2)
        received = await reader.read()
        writer.close()
        server.close()
        return received, await sent

    received, count = run_served(scenario)
    assert count == path.stat().st_size
    assert received == prefix + path.read_bytes()


def test_a_file_without_a_descriptor_is_left_to_the_caller() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        try:
            with pytest.raises(NotImplementedError):
                await loop.sendfile(transport, io.BytesIO(b"not a file"))
        finally:
            transport.close()
            server.close()

    run_served(scenario)


def test_a_send_given_up_while_waiting_for_room_closes_its_descriptor(tmp_path: Path) -> None:
    """A handler cancelled mid-file (the server stopping) leaves nothing open or watched."""
    path = tmp_path / "large.bin"
    path.write_bytes(os.urandom(32 * 1024 * 1024))  # more than a silent client's buffers

    def descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    async def scenario() -> tuple[int, int, bool]:
        loop = asyncio.get_running_loop()
        sending: list[asyncio.Task[int]] = []

        class Sender(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sending.append(loop.create_task(self.send(transport)))

            async def send(self, transport: Any) -> int:
                with path.open("rb") as file:
                    return await loop.sendfile(transport, file)

        server = await loop.create_server(Sender, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)  # never reads
        await asyncio.sleep(0.3)
        during = descriptors()
        sending[0].cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending[0]
        after = descriptors()
        writer.close()
        server.close()
        return during, after, sending[0].cancelled()

    during, after, cancelled = run_served(scenario)
    assert cancelled
    assert after == during - 2  # the socket's second descriptor and the file's
