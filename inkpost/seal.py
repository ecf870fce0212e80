"""Where the organisation's seal comes from: a PEM certificate and key, a PKCS#12 file,
or the self-signed seal ``inkpost init`` creates under the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from inkpost.settings import Settings
from workflows.signing.seal_keys import (
    BadSealKey,
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    load_seal_pkcs12,
    with_organisation_seals,
)


@dataclass(frozen=True)
class SealSetup:
    """What ``inkpost init`` did about the seal, and where it lives."""

    outcome: Literal["created", "kept", "configured"]
    source: str
    key: SealKey


def default_seal_paths(settings: Settings) -> tuple[Path, Path]:
    """The self-signed seal's certificate and key under the data directory."""
    folder = settings.data_dir / "seal"
    return folder / "seal.pem", folder / "seal.key"


def seal_key_from_settings(settings: Settings, *, issue: bool = False) -> SealKey:
    """The seal the settings name (INKPOST_SEAL_PKCS12, or INKPOST_SEAL_CERT with
    INKPOST_SEAL_KEY), else the one ``inkpost init`` created, with each organisation's
    default seal beside it (their issuer created when ``issue``); a ``BadSealKey`` with
    one line saying what is wrong otherwise."""
    passphrase = _passphrase(settings)
    configured = _configured(settings)
    if configured == "pkcs12":
        assert settings.seal_pkcs12 is not None
        return load_seal_pkcs12(settings.seal_pkcs12, passphrase)
    if configured == "pem":
        assert settings.seal_cert is not None and settings.seal_key is not None
        return load_seal_key(settings.seal_cert, settings.seal_key, passphrase)
    cert, key = default_seal_paths(settings)
    if not cert.exists() and not key.exists():
        raise BadSealKey(
            f"there is no seal in {cert.parent}: run `inkpost init`, or set "
            "INKPOST_SEAL_CERT and INKPOST_SEAL_KEY (or INKPOST_SEAL_PKCS12)"
        )
    return with_organisation_seals(load_seal_key(cert, key, passphrase), cert.parent, create=issue)


def ensure_seal(settings: Settings) -> SealSetup:
    """Check the configured seal, or create the self-signed one if the data directory
    has none yet; an existing seal is always kept."""
    configured = _configured(settings)
    if configured == "pkcs12":
        return SealSetup("configured", str(settings.seal_pkcs12), seal_key_from_settings(settings))
    if configured == "pem":
        return SealSetup("configured", str(settings.seal_cert), seal_key_from_settings(settings))
    cert, key = default_seal_paths(settings)
    if cert.exists() or key.exists():
        return SealSetup("kept", str(cert), seal_key_from_settings(settings, issue=True))
    create_self_signed_seal(cert.parent, common_name=seal_common_name(settings))
    return SealSetup("created", str(cert), seal_key_from_settings(settings, issue=True))


def seal_common_name(settings: Settings) -> str:
    """The self-signed seal is named after the installation's public address, which is
    what a reader checking a signature can recognise."""
    host = urlsplit(settings.public_url).hostname
    return f"Inkpost seal ({host})" if host else "Inkpost seal"


def _configured(settings: Settings) -> Literal["pkcs12", "pem", "default"]:
    pem = settings.seal_cert is not None or settings.seal_key is not None
    if settings.seal_pkcs12 is not None and pem:
        raise BadSealKey(
            "set either INKPOST_SEAL_PKCS12 or INKPOST_SEAL_CERT and INKPOST_SEAL_KEY, not both"
        )
    if settings.seal_pkcs12 is not None:
        return "pkcs12"
    if settings.seal_cert is not None and settings.seal_key is None:
        raise BadSealKey("INKPOST_SEAL_CERT is set but INKPOST_SEAL_KEY is not")
    if settings.seal_key is not None and settings.seal_cert is None:
        raise BadSealKey("INKPOST_SEAL_KEY is set but INKPOST_SEAL_CERT is not")
    return "pem" if pem else "default"


def _passphrase(settings: Settings) -> str | None:
    secret = settings.seal_passphrase
    return secret.get_secret_value() if secret is not None else None
