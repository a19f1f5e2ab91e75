"""Run the real sidecar under gunicorn on a free loopback port (tests and ``bench/ingest.py``)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Response", "Server", "free_port", "request"]

CONF = Path(__file__).resolve().parent / "gunicorn_conf.py"
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    """Status, headers (lower-case names) and body of one HTTP exchange; ``json()`` parses the body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:300]!r})"


def request(
    port: int, method: str, path: str, body: bytes | str | Any = None, headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Response:  # fmt: skip
    """One request on a new connection; a non-bytes, non-str ``body`` is sent as JSON."""
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, bytes | str):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


class Server:
    """gunicorn serving ``app`` (default the sidecar) with the sidecar's config file, in its own process group.

    Parameters
    ----------
    database_url:
        ``DATABASE_URL`` of the server (already migrated; ``INGEST_MIGRATE=0`` is set).
    env:
        Extra environment variables (``INGEST_*``).
    workers, threads:
        gunicorn workers and threads per worker.
    app:
        The WSGI entry point.
    """

    def __init__(
        self, database_url: str, env: Mapping[str, str] | None = None, workers: int = 1, threads: int = 8,
        app: str = "ingest_service.app:app",
    ) -> None:  # fmt: skip
        self.database_url = database_url
        self.env = dict(env or {})
        self.workers = workers
        self.threads = threads
        self.app = app
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="ingest-gunicorn-", suffix=".log")[1])

    def start(self, timeout: float = 60.0) -> Server:
        self.port = free_port()
        env = {**os.environ, "DATABASE_URL": self.database_url, "INGEST_MIGRATE": "0", "INGEST_LOG_LEVEL": "warning",
               "PYTHONPATH": str(ROOT), **self.env}  # fmt: skip
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "--bind", f"127.0.0.1:{self.port}",
               "--workers", str(self.workers), "--threads", str(self.threads), self.app]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}: {self.log()}")
            try:
                request(self.port, "GET", "/api/analytics/openapi.yaml", timeout=2)
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def request(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None,
                timeout: float = 30.0) -> Response:  # fmt: skip
        return request(self.port, method, path, body, headers, timeout)

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM to the master), SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
