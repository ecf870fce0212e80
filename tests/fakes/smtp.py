"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping every message it receives.

The server runs aiosmtpd's threaded ``Controller`` (its own event loop in a thread), so sync
tests and tests on any event loop can send to it. It binds port 0 and reads the port the
kernel chose; aiosmtpd's Controller would otherwise need a fixed port.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"


@dataclass
class SmtpServer:
    """Where the test SMTP server listens and what it has received, oldest first."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    """(MAIL FROM, RCPT TOs) of each message: the SMTP envelope, not the headers."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's hook: parse and keep the message."""
        content = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int = 1, *, within: float = 5.0) -> list[EmailMessage]:
        """Wait until ``count`` messages have arrived (for mail sent in the background)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.messages) < count:
            if loop.time() >= deadline:
                raise AssertionError(f"{len(self.messages)} of {count} message(s) after {within}s")
            await asyncio.sleep(0.02)
        return list(self.messages)


class _LoopbackController(Controller):
    """A Controller on an ephemeral port: learns the port before its readiness check."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass(frozen=True)
class Credentials:
    """The one user name and password an SMTP server with AUTH accepts."""

    username: str
    password: str

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd's authenticator hook (PLAIN and LOGIN)."""
        accepted = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (self.username, self.password)
        return AuthResult(success=accepted, handled=False)


@contextlib.contextmanager
def running_smtp(credentials: Credentials | None = None) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 without TLS; with ``credentials`` it offers AUTH (over
    plain text, as aiosmtpd allows when told) and accepts only those."""
    state = SmtpServer(host=LOOPBACK, port=0)
    options: dict[str, Any] = {"server_hostname": "smtp.inkpost.test", "ready_timeout": 5.0}
    if credentials is not None:
        options.update(authenticator=credentials, auth_require_tls=False)
    controller = _LoopbackController(state, hostname=LOOPBACK, port=0, **options)
    controller.start()
    state.port = controller.port
    try:
        yield state
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server on 127.0.0.1 (no TLS, no AUTH), stopped after the test."""
    with running_smtp() as state:
        yield state


SMTP_CREDENTIALS = Credentials("inkpost", "s3cret-mail-pass")


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """Like ``smtp_server``, but offering AUTH, which succeeds only for ``SMTP_CREDENTIALS``."""
    with running_smtp(SMTP_CREDENTIALS) as state:
        yield state
