"""A local RFC 3161 timestamp authority for tests: pyHanko's DummyTimeStamper (or any other
answer) behind HTTP on 127.0.0.1.

Run as ``python -m tests.fakes.tsa`` (from the checkout), it serves a DummyTimeStamper
on a free loopback port, prints one JSON line (``url``, ``certificate`` in PEM) and stops
by itself after ``--seconds`` if nobody stops it first: the benches start it that way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from asn1crypto import keys as asn1_keys
from asn1crypto import pem, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tsa_identity() -> tuple[asn1_x509.Certificate, asn1_keys.PrivateKeyInfo]:
    """A self-signed timestamping certificate and its key (DummyTimeStamper signs with RSA
    only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test TSA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    der_key = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(der_key),
    )


@contextlib.asynccontextmanager
async def serving_tsa(answer: Answer) -> AsyncIterator[str]:
    """``answer`` at POST /tsa on a free loopback port; yields the URL."""
    app = web.Application()
    app.router.add_post("/tsa", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/tsa"
    finally:
        await runner.cleanup()


def answering_with(stamper: DummyTimeStamper) -> Answer:
    """An answer that timestamps every well-formed request with ``stamper``."""

    async def answer(request: web.Request) -> web.Response:
        if request.content_type != "application/timestamp-query":
            return web.Response(status=415, text="expected application/timestamp-query")
        query = tsp.TimeStampReq.load(await request.read())
        reply = stamper.request_tsa_response(query)
        return web.Response(body=reply.dump(), content_type="application/timestamp-reply")

    return answer


async def _serve(seconds: float) -> None:
    cert, key = tsa_identity()
    async with serving_tsa(answering_with(DummyTimeStamper(tsa_cert=cert, tsa_key=key))) as url:
        certificate = pem.armor("CERTIFICATE", cert.dump()).decode()
        print(json.dumps({"url": url, "certificate": certificate}), flush=True)
        await asyncio.sleep(seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A test TSA on 127.0.0.1.")
    parser.add_argument("--seconds", type=float, default=900.0, help="stop after this long")
    asyncio.run(_serve(parser.parse_args().seconds))
