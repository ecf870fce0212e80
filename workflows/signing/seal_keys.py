"""The organisation's seal: a certificate and its private key, loaded from PEM or PKCS#12
files, or created self-signed when an installation has none.

Without a configured seal, each organisation seals with a default seal of its own that
bears its name (`OrganisationSeals`), created when it first seals, and certified by an
issuer that belongs to the installation alone and certifies nothing else.

Every loading problem is a ``BadSealKey`` with a one-line message that names the file, so
an administrator can fix the configuration without reading a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
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
ISSUER_VALIDITY = dt.timedelta(days=2 * 3650)
RENEW_BEFORE = dt.timedelta(days=365)
"""An organisation's default seal is renewed when it has less than this left to live."""
COMMON_NAME_BYTES = 64

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
    organisation_seals: OrganisationSeals | None = None
    """The default seals of the organisations, when this is the installation's default
    seal (none was configured)."""

    def for_organisation(
        self, org_id: int, name: str, *, now: dt.datetime | None = None
    ) -> SealKey:
        """The seal of the organisation's documents: this one when a seal was configured,
        else the organisation's default seal, which bears its ``name`` (created now if it
        has none under that name yet). Blocking: files are read and maybe written."""
        if self.organisation_seals is None:
            return self
        return self.organisation_seals.seal_for(org_id, name, now=now)

    @property
    def common_name(self) -> str:
        return str(self.certificate.subject.native.get("common_name", "")) or "seal"

    @property
    def not_after(self) -> dt.datetime:
        value: dt.datetime = self.certificate["tbs_certificate"]["validity"]["not_after"].native
        return value

    @property
    def trust_anchors(self) -> tuple[asn1_x509.Certificate, ...]:
        """What a verifier of this installation's seals trusts: the seal certificate
        itself. Not its issuers: a CA-issued seal's CA issues certificates to others too,
        and none of theirs passes for this installation's seal. With default seals, also
        the issuer of the organisations' seals, which certifies those alone."""
        if self.organisation_seals is None:
            return (self.certificate,)
        return (self.certificate, self.organisation_seals.issuer)


@dataclass(frozen=True)
class OrganisationSeals:
    """Each organisation's default seal, in ``directory/<org id>/<name digest>/``, issued
    by the installation's seal issuer (``issuer.pem`` and ``issuer.key``, made by
    `create_seal_issuer`). A renamed organisation gets a new seal bearing its new name;
    the old ones stay, and so do the documents they sealed."""

    directory: Path
    issuer: asn1_x509.Certificate
    issuer_cert_path: Path
    issuer_key_path: Path

    def seal_for(self, org_id: int, name: str, *, now: dt.datetime | None = None) -> SealKey:
        """The organisation's current default seal under ``name``: issued now when it has
        none, and renewed (a new key and certificate, in a folder of the next generation)
        once the current one has less than ``RENEW_BEFORE`` left — unless the issuer
        itself would not let a new one live longer. Earlier generations stay on disk."""
        if not name.strip():
            raise BadSealKey("an organisation's seal needs the organisation's name")
        moment = now or dt.datetime.now(dt.UTC)
        digest = hashlib.sha256(name.strip().encode()).hexdigest()[:16]
        base = self.directory / str(int(org_id)) / digest
        generations = self._generations(base)
        if not generations:
            self._issue(base, name.strip(), moment)
            generations = [base]
        current = generations[-1]
        if self._due_for_renewal(current / "seal.pem", moment):
            renewed = base.with_name(f"{digest}.{len(generations) + 1}")
            self._issue(renewed, name.strip(), moment)
            current = renewed
        return load_seal_key(current / "seal.pem", current / "seal.key", now=now)

    @staticmethod
    def _generations(base: Path) -> list[Path]:
        """The seal folders under one name, oldest first: ``<digest>``, ``<digest>.2``…"""
        found = [base] if (base / "seal.pem").exists() else []
        number = 2
        while (renewed := base.with_name(f"{base.name}.{number}")).joinpath("seal.pem").exists():
            found.append(renewed)
            number += 1
        return found

    def _due_for_renewal(self, cert_path: Path, now: dt.datetime) -> bool:
        until = _pem_certificates(cert_path)[0].not_valid_after_utc
        issuer_until: dt.datetime = self.issuer["tbs_certificate"]["validity"]["not_after"].native
        return until - now < RENEW_BEFORE and issuer_until - until > RENEW_BEFORE

    def _issue(self, folder: Path, name: str, now: dt.datetime) -> None:
        """Write the organisation's new seal into ``folder`` at once (made aside and
        renamed into place), so that two workers never leave half a seal or two."""
        issuer_key = _pem_private_key(self.issuer_key_path, None)
        issuer = _pem_certificates(self.issuer_cert_path)[0]
        if not isinstance(issuer_key, ec.EllipticCurvePrivateKey):
            raise BadSealKey(f"the seal issuer's key is not an EC key ({self.issuer_key_path})")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _seal_certificate(
            key,
            _common_name(name),
            now,
            issuer=(issuer, issuer_key),
        )
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        draft = Path(tempfile.mkdtemp(prefix=".new-", dir=folder.parent))
        try:
            _write_new(draft / "seal.key", _key_pem(key), mode=0o600)
            chain = cert.public_bytes(serialization.Encoding.PEM)
            chain += issuer.public_bytes(serialization.Encoding.PEM)
            _write_new(draft / "seal.pem", chain, mode=0o644)
            try:
                draft.rename(folder)
            except OSError:
                if not (folder / "seal.pem").exists():
                    raise
        finally:
            shutil.rmtree(draft, ignore_errors=True)


def with_organisation_seals(
    key: SealKey, directory: Path, *, create: bool, now: dt.datetime | None = None
) -> SealKey:
    """``key`` (the installation's default seal, in ``directory``) with the organisations'
    default seals beside it. Their issuer is created when ``create`` and there is none;
    without one (and not ``create``), every organisation seals with ``key`` itself."""
    cert_path, key_path = directory / "issuer.pem", directory / "issuer.key"
    if not cert_path.exists() and not key_path.exists():
        if not create:
            return key
        name = _common_name(f"{key.common_name}: organisation seals")
        create_seal_issuer(directory, common_name=name, now=now)
    issuer = _pem_certificates(cert_path)[0]
    if _public_der(_pem_private_key(key_path, None).public_key()) != _public_der(
        issuer.public_key()
    ):
        raise BadSealKey(f"the seal issuer's key does not match its certificate ({cert_path})")
    seals = OrganisationSeals(
        directory=directory / "organisations",
        issuer=_asn1_cert(issuer),
        issuer_cert_path=cert_path,
        issuer_key_path=key_path,
    )
    return replace(key, organisation_seals=seals)


def create_seal_issuer(
    directory: Path, *, common_name: str, now: dt.datetime | None = None
) -> tuple[Path, Path]:
    """Write the issuer of the organisations' default seals as ``issuer.pem`` and
    ``issuer.key`` (mode 0600) in ``directory``; never replaces an existing one."""
    cert_path, key_path = directory / "issuer.pem", directory / "issuer.key"
    for path in (cert_path, key_path):
        if path.exists():
            raise FileExistsError(f"a seal issuer already exists at {path}; it is never replaced")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    moment = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, _common_name(common_name))])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(moment - dt.timedelta(minutes=5))
        .not_valid_after(moment + ISSUER_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_new(key_path, _key_pem(key), mode=0o600)
    try:
        _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    return cert_path, key_path


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
    cert = _seal_certificate(key, common_name.strip(), now or dt.datetime.now(dt.UTC))
    _write_new(key_path, _key_pem(key), mode=0o600)
    try:
        _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise
    return cert_path, key_path


def _seal_certificate(
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    now: dt.datetime,
    *,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
) -> x509.Certificate:
    """A seal certificate: self-signed, or issued by ``issuer`` (never outliving it)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    until = now + SEAL_VALIDITY
    builder = x509.CertificateBuilder().subject_name(name)
    if issuer is None:
        builder = builder.issuer_name(name)
        signing_key: ec.EllipticCurvePrivateKey = key
    else:
        issuer_cert, signing_key = issuer
        until = min(until, issuer_cert.not_valid_after_utc)
        builder = builder.issuer_name(issuer_cert.subject).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    return (
        builder.public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(until)
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
        .sign(signing_key, hashes.SHA256())
    )


def _common_name(name: str) -> str:
    """``name`` as a certificate's common name, which holds at most 64 bytes of UTF-8
    (a longer one is cut, and ends in "…")."""
    if len(name.encode()) <= COMMON_NAME_BYTES:
        return name
    while len(f"{name}…".encode()) > COMMON_NAME_BYTES:
        name = name[:-1]
    return f"{name.rstrip()}…"


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
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
