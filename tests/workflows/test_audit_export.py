"""`export_history`: a bundle that a third party checks by following docs/audit-export.md
with openssl, sha256sum and python3 alone, and in which a history cut short fails."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from sqlmodel import col, delete

from storage.models import AuditEvent, AuditHead
from tests.conftest import Tenant
from tests.fakes.tsa import tsa_identity
from tests.helpers import upload
from workflows import audit, audit_export, checkpoints
from workflows.context import Env
from workflows.errors import NotFound
from workflows.signing.seal_keys import (
    SealKey,
    create_self_signed_seal,
    load_seal_key,
    with_organisation_seals,
)

PROCEDURE = Path(__file__).resolve().parents[2] / "docs" / "audit-export.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def seal(tmp_path_factory: pytest.TempPathFactory) -> SealKey:
    """An installation's default seal: each organisation seals with a seal of its own."""
    directory = tmp_path_factory.mktemp("seal") / "seal"
    own = load_seal_key(*create_self_signed_seal(directory, common_name="Inkpost seal"))
    return with_organisation_seals(own, directory, create=True)


def procedure() -> tuple[str, str]:
    """The documented procedure: its shell steps, in order, and check_history.py."""
    blocks = BLOCK.findall(PROCEDURE.read_text())
    shell = "\n".join(code for language, code in blocks if language == "sh")
    [script] = [code for language, code in blocks if language == "python"]
    assert script.startswith("# check_history.py")
    return shell, script


def follow_procedure(bundle: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """Every documented step on ``bundle``, in ``work``: the shell steps, then the script."""
    shell, script = procedure()
    (work / "check_history.py").write_text(script)
    python = shutil.which("python3") or sys.executable
    return run_steps(f"{shell}\n{python} ../check_history.py .", bundle=bundle, work=work)


def run_steps(steps: str, *, bundle: Path, work: Path) -> subprocess.CompletedProcess[str]:
    """``steps`` in bash, stopping at the first failure, beside ``bundle`` as the procedure
    names it (``acme-history.zip``)."""
    shutil.copy(bundle, work / "acme-history.zip")
    return subprocess.run(
        ["bash", "-c", f"set -e\n{steps}\n"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def _history_with_checkpoints(env: Env, tenant: Tenant, seal: SealKey) -> list[int]:
    """Uploads, two timestamped checkpoints, and an upload after the last: their seqs."""
    cert, key = tsa_identity()
    stamper = DummyTimeStamper(tsa_cert=cert, tsa_key=key)
    covered = []
    for title in ("Łukasz's contract", "Договор"):
        await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title=title)
        anchor = await checkpoints.anchor_chain(
            env, org_id=tenant.org_id, seal=seal, timestamper=stamper
        )
        assert anchor is not None
        covered.append(anchor.checkpoint.seq)
    await upload(env, org_id=tenant.org_id, client_id=tenant.client_id, title="After")
    return covered


async def test_a_third_party_verifies_the_bundle_with_standard_tools(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    covered = await _history_with_checkpoints(env, tenant, seal)
    out = _directory(tmp_path / "out") / "export.zip"

    summary = await audit_export.export_history(env, org_id=tenant.org_id, out=out)

    async with env.reads() as session:
        head = await session.get(AuditHead, tenant.org_id)
    assert head is not None
    assert (summary.events, summary.checkpoints, summary.timestamped) == (head.seq, 2, 2)
    assert summary.anchored == covered[-1]
    assert _names(out.parent) == ["export.zip"], "no part file is left"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
    assert {
        "events.jsonl",
        "checkpoints/000001.json",
        "checkpoints/000001.p7s",
        "checkpoints/000001.tst",
        "checkpoints/000002.tst",
        "certificates/seal.pem",
        "certificates/tsa.pem",
        "SHA256SUMS",
    } <= names
    assert manifest["chain"]["events"] == head.seq
    assert [c["seq"] for c in manifest["checkpoints"]] == covered

    result = await asyncio.to_thread(follow_procedure, out, _directory(tmp_path / "third-party"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "files: all present and unchanged" in result.stdout
    assert re.search(r"subject=CN ?= ?Acme Law\n", result.stdout), "the organisation's seal"
    assert re.search(r"subject=CN ?= ?Inkpost seal: organisation seals\n", result.stdout)
    assert "checkpoints/000002.json: the seal signature holds" in result.stdout
    assert re.search(r"checkpoints/000002\.tst: Time stamp: ", result.stdout)
    assert f"chain: {head.seq} events, each linked to the one before" in result.stdout
    assert f"000002.json: the chain agrees up to event {covered[1]}" in result.stdout


async def _cut_off_after(env: Env, org_id: int, keep: int) -> None:
    """Delete the events after ``keep`` and rewind the head to the new end."""
    async with env.sessions() as session, session.begin():
        last = await audit.hash_at(session, org_id=org_id, seq=keep)
        assert last is not None
        await session.exec(
            delete(AuditEvent).where(col(AuditEvent.org_id) == org_id, col(AuditEvent.seq) > keep)
        )
        head = await session.get(AuditHead, org_id)
        assert head is not None
        head.seq, head.hash = keep, last
        session.add(head)


async def test_a_bundle_of_a_history_cut_short_fails_the_procedure(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    covered = await _history_with_checkpoints(env, tenant, seal)
    keep = covered[1] - 1
    await _cut_off_after(env, tenant.org_id, keep)
    out = tmp_path / "export.zip"
    await audit_export.export_history(env, org_id=tenant.org_id, out=out)

    result = await asyncio.to_thread(follow_procedure, out, _directory(tmp_path / "third-party"))

    assert result.returncode == 1
    assert (
        f"FAILED: 000002.json (2026-11-23T12:00:00.000000+00:00) covers event {covered[1]}"
        in result.stdout
    )
    assert f"but the chain ends at event {keep}: events were cut off" in result.stdout


async def test_a_statement_changed_in_the_bundle_fails_its_seal(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    await _history_with_checkpoints(env, tenant, seal)
    out = tmp_path / "export.zip"
    await audit_export.export_history(env, org_id=tenant.org_id, out=out)
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(forged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "checkpoints/000001.json":
                data = data.replace(b'"reason":"interval"', b'"reason":"nothing"')
            if item.filename == "SHA256SUMS":
                continue  # a forger rewrites the sums too: they are no proof
            target.writestr(item, data)
    shell, _ = procedure()
    without_sums = shell.replace("sha256sum -c --quiet SHA256SUMS &&", "true ||")

    result = await asyncio.to_thread(
        run_steps, without_sums, bundle=forged, work=_directory(tmp_path / "third-party")
    )

    assert result.returncode == 1
    assert "checkpoints/000001.json: the seal signature does NOT hold" in result.stdout


async def test_an_export_that_fails_leaves_nothing_behind(
    env: Env, tenant: Tenant, seal: SealKey, tmp_path: Path
) -> None:
    anchor = await checkpoints.anchor_chain(env, org_id=tenant.org_id, seal=seal)
    assert anchor is not None
    path = env.blobs.local_path(anchor.checkpoint.signature_key)
    assert path is not None
    path.unlink()
    out = _directory(tmp_path / "out") / "export.zip"

    with pytest.raises(NotFound, match="checkpoint 1 is missing from the medium"):
        await audit_export.export_history(env, org_id=tenant.org_id, out=out)

    assert _names(out.parent) == []
