"""The test SMTP server receives what aiosmtplib sends."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib

from tests.fakes.smtp import SmtpServer


async def test_sent_mail_arrives_parsed_with_its_envelope(smtp_server: SmtpServer) -> None:
    outgoing = EmailMessage()
    outgoing["From"] = "Inkpost <noreply@inkpost.test>"
    outgoing["To"] = "client@example.org"
    outgoing["Subject"] = "Your fee table is ready – 2027"
    outgoing.set_content("Open it here: https://inkpost.test/d/abc\n")

    await aiosmtplib.send(
        outgoing, hostname=smtp_server.host, port=smtp_server.port, start_tls=False
    )

    [received] = smtp_server.messages
    assert received["Subject"] == "Your fee table is ready – 2027"
    assert received["To"] == "client@example.org"
    body = received.get_body(("plain",))
    assert body is not None and "https://inkpost.test/d/abc" in body.get_content()
    assert smtp_server.envelopes == [("noreply@inkpost.test", ["client@example.org"])]
