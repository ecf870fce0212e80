"""The checks of what makes a sealed document evidence: the seal (loads, not expiring) and
the timestamp authority (answers an RFC 3161 request)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from pathlib import Path

import aiohttp
from asn1crypto import cms
from cryptography import x509
from pyhanko.sign.timestamps.aiohttp_client import HTTPTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError

from inkpost.doctor.verdicts import (
    Status,
    Verdict,
    fail,
    first_line,
    ok,
    skip,
    without_credentials,
)
from inkpost.seal import default_seal_paths, seal_key_from_settings
from inkpost.settings import Settings
from workflows.signing.seal_keys import BadSealKey

SEAL_WARNING = dt.timedelta(days=30)
"""A seal expiring sooner than this is a warning."""
TSA_TEST_DIGEST = hashlib.sha256(b"inkpost doctor").digest()


async def check_seal(settings: Settings, seconds: float) -> Verdict:
    """The seal loads, its key matches, and it is not expired (nor expiring within 30 days)."""
    try:
        key = await asyncio.to_thread(seal_key_from_settings, settings)
    except BadSealKey as e:
        return fail(f"{e}{_seal_hint(settings)}")
    certificate = x509.load_der_x509_certificate(key.certificate.dump())
    subject = certificate.subject.rfc4514_string()
    issuer = f"issued by {certificate.issuer.rfc4514_string()}"
    if certificate.issuer == certificate.subject:
        issuer = "self-signed"
    until = certificate.not_valid_after_utc
    left = until - dt.datetime.now(dt.UTC)
    where = _seal_source(settings)
    if left < SEAL_WARNING:
        return Verdict(
            Status.WARN,
            f"{subject}: expires on {until:%Y-%m-%d} (in {left.days} days) — before then, get "
            "a new seal and set INKPOST_SEAL_CERT and INKPOST_SEAL_KEY (or INKPOST_SEAL_PKCS12) "
            "to it",
        )
    return ok(f"{subject}, {issuer}, valid until {until:%Y-%m-%d}, from {where}")


def _seal_source(settings: Settings) -> Path:
    if settings.seal_pkcs12 is not None:
        return settings.seal_pkcs12.resolve()
    if settings.seal_cert is not None:
        return settings.seal_cert.resolve()
    return default_seal_paths(settings)[0].resolve()


def _seal_hint(settings: Settings) -> str:
    if settings.seal_pkcs12 is not None:
        return " — check INKPOST_SEAL_PKCS12 and INKPOST_SEAL_PASSPHRASE"
    if settings.seal_cert is not None or settings.seal_key is not None:
        return " — check INKPOST_SEAL_CERT, INKPOST_SEAL_KEY and INKPOST_SEAL_PASSPHRASE"
    cert, key = default_seal_paths(settings)
    if not cert.exists() and not key.exists():
        return ""  # the message says to run `inkpost init`
    return (
        f" — configure a seal with INKPOST_SEAL_CERT and INKPOST_SEAL_KEY, or move "
        f"{cert.parent} aside and run `inkpost init` for a new self-signed one"
    )


async def check_tsa(settings: Settings, seconds: float) -> Verdict:
    """The timestamp authority answers an RFC 3161 request for a test digest."""
    if not settings.tsa_url:
        return skip("not configured (set INKPOST_TSA_URL for PAdES B-LTA seals)")
    stamper = HTTPTimeStamper(settings.tsa_url, timeout=seconds)
    url = without_credentials(settings.tsa_url)
    try:
        token = await stamper.async_timestamp(TSA_TEST_DIGEST, "sha256")
    except TimestampRequestError as e:
        return fail(f"{url}: {_tsa_problem(e)} — check INKPOST_TSA_URL and the TSA's status")
    signed_by, at = _token_facts(token)
    return ok(f"{url}: timestamped a test digest ({signed_by}, at {at})")


def _tsa_problem(error: TimestampRequestError) -> str:
    cause = error.__cause__
    if isinstance(cause, aiohttp.ClientResponseError) and not isinstance(
        cause, aiohttp.ContentTypeError
    ):
        return f"answered HTTP {cause.status} {cause.message}".rstrip()
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"cannot connect ({first_line(cause.os_error)})"
    if isinstance(cause, TimeoutError):
        return "no answer in time"
    if cause is not None:
        return first_line(cause.args[0] if cause.args else cause)
    return first_line(error)


def _token_facts(token: cms.ContentInfo) -> tuple[str, str]:
    """Who signed a timestamp token (the first certificate it carries) and its time."""
    signed = token["content"]
    info = signed["encap_content_info"]["content"].parsed
    at = info["gen_time"].native
    when = at.strftime("%Y-%m-%d %H:%M:%S %Z") if isinstance(at, dt.datetime) else str(at)
    certificates = signed["certificates"].native or []
    if not certificates:
        return "signer not included", when
    subject = signed["certificates"][0].chosen.subject.human_friendly
    return f"signed by {subject}", when
