"""The organisation's seal: a certificate and its private key, loaded from PEM or PKCS#12
files, or created self-signed when an installation has none.

Every loading problem is a ``BadSealKey`` with a one-line message that names the file, so
an administrator can fix the configuration without reading a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.sign.signers import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from workflows.errors import InvalidInput

SEAL_VALIDITY = dt.timedelta(days=3650)

_SigningKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)


class BadSealKey(InvalidInput):
    """The seal's files are missing, unreadable, locked by another passphrase, expired, or
    hold a key that does not belong to the certificate."""


@dataclass(frozen=True)
class SealKey:
    """What seals a PDF: pyHanko's signer over the key, and the certificate chain it embeds.

    ``certificate`` is the seal itself; ``chain`` holds the issuers (empty when
    self-signed)."""

    signer: SimpleSigner
    certificate: asn1_x509.Certificate
    chain: tuple[asn1_x509.Certificate, ...]

    @property
    def common_name(self) -> str:
        return str(self.certificate.subject.native.get("common_name", "")) or "seal"

    @property
    def not_after(self) -> dt.datetime:
        value: dt.datetime = self.certificate["tbs_certificate"]["validity"]["not_after"].native
        return value

    @property
    def trust_anchors(self) -> tuple[asn1_x509.Certificate, ...]:
        """The certificates a verifier of this installation's seals trusts."""
        return (self.certificate, *self.chain)


def load_seal_key(
    cert_path: Path,
    key_path: Path,
    passphrase: str | None = None,
    *,
    now: dt.datetime | None = None,
) -> SealKey:
    """A seal from PEM files: the certificate (optionally followed by its issuers) and
    the private key (optionally encrypted with ``passphrase``)."""
    certs = _pem_certificates(cert_path)
    key = _pem_private_key(key_path, passphrase)
    return _seal_key(key, certs[0], certs[1:], source=f"{cert_path} and {key_path}", now=now)


def load_seal_pkcs12(
    path: Path, passphrase: str | None, *, now: dt.datetime | None = None
) -> SealKey:
    """A seal from a PKCS#12 (.p12/.pfx) file holding the key, the certificate and
    possibly its issuers."""
    data = _read(path, "seal PKCS#12 file")
    secret = passphrase.encode() if passphrase else None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
    except ValueError as error:
        hint = "wrong passphrase" if passphrase else "no passphrase given, or not a PKCS#12 file"
        raise BadSealKey(f"cannot open the seal PKCS#12 file {path}: {hint}") from error
    if key is None or cert is None:
        raise BadSealKey(
            f"the seal PKCS#12 file {path} must hold a private key and its certificate"
        )
    return _seal_key(_signing_key(key, path), cert, list(extra), source=str(path), now=now)


def create_self_signed_seal(
    directory: Path, *, common_name: str, now: dt.datetime | None = None
) -> tuple[Path, Path]:
    """Write a new self-signed ECDSA P-256 seal as ``seal.pem`` and ``seal.key`` (mode
    0600) in ``directory``; never replaces an existing seal, since documents already
    sealed with it must stay verifiable against it."""
    if not common_name.strip():
        raise BadSealKey("the seal needs a name (common name)")
    cert_path, key_path = directory / "seal.pem", directory / "seal.key"
    for path in (cert_path, key_path):
        if path.exists():
            raise FileExistsError(f"a seal already exists at {path}; it is never replaced")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed_certificate(key, common_name.strip(), now or dt.datetime.now(dt.UTC))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(key_path, key_pem, mode=0o600)
    try:
        _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    return cert_path, key_path


def _self_signed_certificate(
    key: ec.EllipticCurvePrivateKey, common_name: str, now: dt.datetime
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + SEAL_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write_new(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` from the start (no window in which a key
    is readable by others), and flush it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(path, mode)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BadSealKey(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise BadSealKey(f"{what} is a directory, not a file: {path}") from None
    except PermissionError:
        raise BadSealKey(f"{what} is not readable: {path}") from None


def _pem_certificates(path: Path) -> list[x509.Certificate]:
    data = _read(path, "seal certificate file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise BadSealKey(f"no PEM certificate in the seal certificate file {path}")
    return certs


def _pem_private_key(path: Path, passphrase: str | None) -> _SigningKey:
    data = _read(path, "seal key file")
    if b"-----BEGIN" not in data:
        raise BadSealKey(f"the seal key file {path} is not a PEM private key")
    try:
        key = serialization.load_pem_private_key(data, passphrase.encode() if passphrase else None)
    except TypeError as error:
        message = (
            f"the seal key file {path} is encrypted: a passphrase is needed"
            if not passphrase
            else f"the seal key file {path} is not encrypted: remove the passphrase"
        )
        raise BadSealKey(message) from error
    except ValueError as error:
        hint = "wrong passphrase" if passphrase else "not a readable PEM private key"
        raise BadSealKey(f"cannot open the seal key file {path}: {hint}") from error
    return _signing_key(key, path)


def _signing_key(key: object, path: Path) -> _SigningKey:
    if isinstance(
        key,
        rsa.RSAPrivateKey
        | ec.EllipticCurvePrivateKey
        | ed25519.Ed25519PrivateKey
        | ed448.Ed448PrivateKey,
    ):
        return key
    raise BadSealKey(f"the seal key in {path} is of a kind that cannot sign PDFs")


def _seal_key(
    key: _SigningKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    source: str,
    now: dt.datetime | None,
) -> SealKey:
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise BadSealKey(f"the seal key does not match the seal certificate ({source})")
    moment = now or dt.datetime.now(dt.UTC)
    if cert.not_valid_after_utc < moment:
        expired = cert.not_valid_after_utc.date().isoformat()
        raise BadSealKey(f"the seal certificate expired on {expired} ({source})")
    if cert.not_valid_before_utc > moment:
        starts = cert.not_valid_before_utc.date().isoformat()
        raise BadSealKey(f"the seal certificate is not valid before {starts} ({source})")
    leaf = _asn1_cert(cert)
    issuers = tuple(_asn1_cert(c) for c in chain)
    private = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = SimpleSigner(
        signing_cert=leaf,
        signing_key=private,
        cert_registry=SimpleCertificateStore.from_certs([leaf, *issuers]),
    )
    return SealKey(signer=signer, certificate=leaf, chain=issuers)


def _public_der(public_key: object) -> bytes:
    assert hasattr(public_key, "public_bytes")
    der: bytes = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
