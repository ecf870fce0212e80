"""A test PKI with working revocation services, served on 127.0.0.1.

certomancer (pyHanko's own test-PKI tool) builds it from one configuration: a root CA, an
intermediate CA, two seal certificates the intermediate issued (one of them revoked),
an OCSP responder for the intermediate and a timestamp authority whose certificate the
intermediate issued too. Every certificate below the root declares where its revocation
data is: a CRL distribution point and, for the intermediate's certificates, an OCSP
responder. certomancer's Animator answers the CRL, OCSP and timestamp requests over HTTP
on a free loopback port, in a thread of its own, until ``serving_pki`` ends.

Run as ``python -m tests.fakes.pki DIR`` (from the checkout), it builds the PKI in DIR,
prints one JSON line (the TSA's address and the files of the root and of the valid seal)
and serves until stopped, or until ``--seconds`` have passed: the sealing bench starts it
that way.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from certomancer.integrations.animator import Animator, AnimatorArchStore
from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig, PKIArchitecture
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug.serving import make_server

ARCH = "inkpost"
SEAL_NAME = "Acme Law seal"
REVOKED_SEAL_NAME = "Acme Law old seal"
TSA_NAME = "Acme Test TSA"
_KEYS = ("root", "interm", "interm-ocsp", "seal", "seal-revoked", "tsa")
_LEAF_LIFE = dt.timedelta(days=730)


@dataclass(frozen=True)
class LocalPki:
    """What a test needs of the PKI: its root, the TSA's address, the seals' PEM files."""

    root: asn1_x509.Certificate
    intermediate: asn1_x509.Certificate
    tsa: asn1_x509.Certificate
    tsa_url: str
    seal_files: tuple[Path, Path]
    """The valid seal: its certificate followed by the intermediate, and its key."""
    revoked_seal_files: tuple[Path, Path]
    """A seal whose certificate the intermediate revoked an hour before the PKI started."""
    revoked_at: dt.datetime


@contextlib.contextmanager
def serving_pki(directory: Path) -> Iterator[LocalPki]:
    """Build the PKI under ``directory`` and serve it until the block ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    revoked_at = now - dt.timedelta(hours=1)
    for label in _KEYS:
        key = ec.generate_private_key(ec.SECP256R1())
        (directory / f"{label}.key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    config = CertomancerConfig(
        _configuration(now, revoked_at),
        key_search_dir=str(directory),
        external_url_prefix=base,
    )
    arch = config.get_pki_arch(ArchLabel(ARCH))
    certs = {label: arch.get_cert(CertLabel(label)) for label in ("root", "interm", "tsa")}
    pki = LocalPki(
        root=certs["root"],
        intermediate=certs["interm"],
        tsa=certs["tsa"],
        tsa_url=f"{base}/{ARCH}/tsa/tsa",
        seal_files=_seal_files(directory, arch, "seal"),
        revoked_seal_files=_seal_files(directory, arch, "seal-revoked"),
        revoked_at=revoked_at,
    )
    animator = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, animator, threaded=True, fd=listener.fileno())
    thread = threading.Thread(target=server.serve_forever, name="test-pki", daemon=True)
    thread.start()
    try:
        yield pki
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        listener.close()


def _seal_files(directory: Path, arch: PKIArchitecture, label: str) -> tuple[Path, Path]:
    """The seal as an installation is given one: its certificate followed by its issuer,
    and its key."""
    chain = [arch.get_cert(CertLabel(label)), arch.get_cert(CertLabel("interm"))]
    cert_path = directory / f"{label}.pem"
    cert_path.write_bytes(b"".join(_pem(cert) for cert in chain))
    return cert_path, directory / f"{label}.key.pem"


def _pem(cert: asn1_x509.Certificate) -> bytes:
    armored: bytes = pem.armor("CERTIFICATE", cert.dump())
    return armored


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def _configuration(now: dt.datetime, revoked_at: dt.datetime) -> dict[str, object]:
    ca_from, ca_to = now - dt.timedelta(days=30), now + dt.timedelta(days=3650)
    leaf_from, leaf_to = now - dt.timedelta(days=2), now + _LEAF_LIFE

    def key_usage(*usages: str) -> dict[str, object]:
        return {
            "id": "key_usage",
            "critical": True,
            "smart-value": {"schema": "key-usage", "params": list(usages)},
        }

    def extended_key_usage(usage: str) -> dict[str, object]:
        return {"id": "extended_key_usage", "critical": True, "value": [usage]}

    crl_of = {
        "id": "crl_distribution_points",
        "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["interm"]}},
    }
    ocsp_of = {
        "id": "authority_information_access",
        "smart-value": {"schema": "aia-urls", "params": {"ocsp-responder-names": ["interm"]}},
    }
    leaf_validity = {"valid-from": _when(leaf_from), "valid-to": _when(leaf_to)}
    seal = {
        "subject": "seal",
        "issuer": "interm",
        "validity": leaf_validity,
        "extensions": [key_usage("digital_signature", "non_repudiation"), crl_of, ocsp_of],
    }
    return {
        "keysets": {
            ARCH: {"keys": {label: {"path": f"{label}.key.pem"} for label in _KEYS}},
        },
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {"country-name": "SE", "organization-name": "Acme Law"},
                "entities": {
                    "root": {"common-name": "Acme Test Root CA"},
                    "interm": {"common-name": "Acme Test Issuing CA"},
                    "interm-ocsp": {"common-name": "Acme Test OCSP responder"},
                    "seal": {"common-name": SEAL_NAME},
                    "seal-revoked": {"common-name": REVOKED_SEAL_NAME},
                    "tsa": {"common-name": TSA_NAME},
                },
                "certs": {
                    "root": {
                        "subject": "root",
                        "issuer": "root",
                        "validity": {"valid-from": _when(ca_from), "valid-to": _when(ca_to)},
                        "extensions": [
                            {"id": "basic_constraints", "critical": True, "value": {"ca": True}},
                            key_usage("digital_signature", "key_cert_sign", "crl_sign"),
                        ],
                    },
                    "interm": {
                        "issuer": "root",
                        "validity": {"valid-from": _when(ca_from), "valid-to": _when(ca_to)},
                        "extensions": [
                            {
                                "id": "basic_constraints",
                                "critical": True,
                                "value": {"ca": True, "path-len-constraint": 0},
                            },
                            key_usage("digital_signature", "key_cert_sign", "crl_sign"),
                            {
                                "id": "crl_distribution_points",
                                "smart-value": {
                                    "schema": "crl-dist-url",
                                    "params": {"crl-repo-names": ["root"]},
                                },
                            },
                        ],
                    },
                    "interm-ocsp": {
                        "issuer": "interm",
                        "validity": leaf_validity,
                        "extensions": [
                            key_usage("digital_signature"),
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["ocsp_signing"],
                            },
                            {"id": "ocsp_no_check"},
                        ],
                    },
                    "seal": seal,
                    "seal-revoked": {
                        **seal,
                        "subject": "seal-revoked",
                        "revocation": {
                            "revoked-since": _when(revoked_at),
                            "reason": "key_compromise",
                        },
                    },
                    "tsa": {
                        "issuer": "interm",
                        "validity": leaf_validity,
                        "extensions": [
                            key_usage("digital_signature"),
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["time_stamping"],
                            },
                            crl_of,
                            ocsp_of,
                        ],
                    },
                },
                "services": {
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "interm-ocsp",
                            "signing-key": "interm-ocsp",
                        },
                    },
                    "crl-repo": {
                        "root": {
                            "for-issuer": "root",
                            "signing-key": "root",
                            "simulated-update-schedule": "P1D",
                        },
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "P1D",
                        },
                    },
                    "time-stamping": {
                        "tsa": {
                            "signing-key": "tsa",
                            "signing-cert": "tsa",
                            "certs-to-embed": ["interm", "root"],
                        },
                    },
                },
            },
        },
    }


def _serve(directory: Path, seconds: float) -> None:
    with serving_pki(directory) as pki:
        root = directory / "root.pem"
        root.write_bytes(_pem(pki.root))
        cert, key = pki.seal_files
        found = {"tsa_url": pki.tsa_url, "root": str(root), "seal": [str(cert), str(key)]}
        print(json.dumps(found), flush=True)
        time.sleep(seconds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="A test PKI with a TSA on 127.0.0.1.")
    parser.add_argument("directory", type=Path, help="an empty folder for its files")
    parser.add_argument("--seconds", type=float, default=900.0, help="stop after this long")
    arguments = parser.parse_args()
    _serve(arguments.directory, arguments.seconds)
