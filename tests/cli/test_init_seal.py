"""`inkpost init` and the seal: created once, kept forever, configured ones checked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner, Result

from inkpost.cli import app
from inkpost.seal import seal_key_from_settings
from inkpost.settings import Settings
from workflows.signing.seal_keys import BadSealKey, create_self_signed_seal


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    monkeypatch.setenv("INKPOST_DATA_DIR", str(path))
    monkeypatch.setenv("INKPOST_PUBLIC_URL", "https://docs.acme.test")
    return path


@pytest.fixture
def own_seal(tmp_path: Path) -> tuple[Path, Path]:
    return create_self_signed_seal(tmp_path / "own", common_name="Acme Law seal")


def init(env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(app, ["init"], env=env)


def failure(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_init_creates_a_self_signed_seal_readable_only_by_its_owner(data_dir: Path) -> None:
    result = init()

    assert result.exit_code == 0, result.stderr
    cert, key = data_dir / "seal" / "seal.pem", data_dir / "seal" / "seal.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "seal").stat().st_mode) == 0o700
    assert (
        f"Seal:           created self-signed 'Inkpost seal (docs.acme.test)' at {cert}"
        in result.stdout
    )
    loaded = seal_key_from_settings(Settings())
    assert loaded.common_name == "Inkpost seal (docs.acme.test)"


def test_init_twice_keeps_the_seal(data_dir: Path) -> None:
    assert init().exit_code == 0
    seal = data_dir / "seal"
    before = (seal / "seal.pem").read_bytes(), (seal / "seal.key").read_bytes()

    again = init()

    assert again.exit_code == 0, again.stderr
    assert "Seal:           kept existing 'Inkpost seal (docs.acme.test)'" in again.stdout
    assert ((seal / "seal.pem").read_bytes(), (seal / "seal.key").read_bytes()) == before


def test_a_configured_seal_is_checked_and_no_other_is_created(
    data_dir: Path, own_seal: tuple[Path, Path]
) -> None:
    cert, key = own_seal

    result = init({"INKPOST_SEAL_CERT": str(cert), "INKPOST_SEAL_KEY": str(key)})

    assert result.exit_code == 0, result.stderr
    assert f"Seal:           configured 'Acme Law seal' at {cert}" in result.stdout
    assert not (data_dir / "seal").exists()


def test_a_wrong_passphrase_stops_init_with_one_line(
    data_dir: Path, own_seal: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = own_seal
    locked = tmp_path / "locked.key"
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    locked.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"right"),
        )
    )
    env: dict[str, str | None] = {"INKPOST_SEAL_CERT": str(cert), "INKPOST_SEAL_KEY": str(locked)}

    line = failure(init({**env, "INKPOST_SEAL_PASSPHRASE": "wrong"}))

    assert line == f"error: cannot open the seal key file {locked}: wrong passphrase"
    assert init({**env, "INKPOST_SEAL_PASSPHRASE": "right"}).exit_code == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"INKPOST_SEAL_CERT": "{cert}"},
            "error: INKPOST_SEAL_CERT is set but INKPOST_SEAL_KEY is not",
        ),
        (
            {"INKPOST_SEAL_KEY": "{key}"},
            "error: INKPOST_SEAL_KEY is set but INKPOST_SEAL_CERT is not",
        ),
        (
            {"INKPOST_SEAL_CERT": "{cert}", "INKPOST_SEAL_KEY": "{other_key}"},
            "error: the seal key does not match the seal certificate ({cert} and {other_key})",
        ),
        (
            {"INKPOST_SEAL_CERT": "{cert}", "INKPOST_SEAL_KEY": "{missing}"},
            "error: seal key file not found: {missing}",
        ),
        (
            {"INKPOST_SEAL_PKCS12": "{missing}", "INKPOST_SEAL_CERT": "{cert}"},
            "error: set either INKPOST_SEAL_PKCS12 or INKPOST_SEAL_CERT and INKPOST_SEAL_KEY, "
            "not both",
        ),
        ({"INKPOST_SEAL_PKCS12": "{cert}"}, "error: cannot open the seal PKCS#12 file {cert}"),
    ],
)
def test_a_bad_seal_configuration_is_one_line_and_creates_nothing(
    data_dir: Path,
    own_seal: tuple[Path, Path],
    tmp_path: Path,
    settings: dict[str, str],
    message: str,
) -> None:
    cert, key = own_seal
    _, other_key = create_self_signed_seal(tmp_path / "other", common_name="Other")
    names = {"cert": cert, "key": key, "other_key": other_key, "missing": tmp_path / "no.key"}
    env: dict[str, str | None] = {name: value.format(**names) for name, value in settings.items()}

    line = failure(init(env))

    assert line.startswith(message.format(**names))
    assert not (data_dir / "seal").exists()


def test_without_a_seal_the_loader_says_to_run_init(data_dir: Path) -> None:
    with pytest.raises(BadSealKey, match=r"there is no seal in .*: run `inkpost init`"):
        seal_key_from_settings(Settings())
