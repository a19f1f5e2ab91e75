"""Fixtures of the browser tests: Debian's headless Chromium driven by Playwright, and the real sidecar under
gunicorn on a free loopback port with a fresh SQLite database migrated by :func:`analytics.db.upgrade`.

Skipped as a whole when Playwright or ``/usr/bin/chromium`` is missing (``apt-get install -y chromium``;
Playwright's own browser download is never used).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PAGE = "/static/ai-job-impact-calculator.html"

sync_api = pytest.importorskip("playwright.sync_api")
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sidecar:
    """gunicorn serving ``ingest_service.app:app`` on a fixed loopback port, so it can be stopped and started
    again at the same address while a page keeps running."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.database_url = database_url
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Sidecar:
        env = {**os.environ, "DATABASE_URL": self.database_url, "INGEST_MIGRATE": "0", "PYTHONPATH": str(ROOT),
               "INGEST_LOG_LEVEL": "warning", "INGEST_VARIANT_CACHE_SECONDS": "0", "INGEST_RATE_LIMIT": "0",
               # the page is served by the sidecar itself: its own origin must be allowed to POST
               "INGEST_ALLOWED_ORIGINS": self.base}
        cmd = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "ingest_service" / "gunicorn_conf.py"),
               "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4", "ingest_service.app:app"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/api/analytics/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def database_url(tmp_path) -> str:
    from analytics.db import _build_engine, upgrade

    url = f"sqlite:///{tmp_path / 'browser.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def db(database_url):
    from analytics.db import _build_engine

    engine = _build_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sidecar(database_url, tmp_path) -> Iterator[Sidecar]:
    server = Sidecar(database_url, tmp_path / "gunicorn.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """Console messages and uncaught page errors of one page."""

    def __init__(self, page) -> None:
        self.messages: list[tuple[str, str]] = []
        page.on("console", lambda m: self.messages.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.messages.append(("pageerror", str(e))))

    def errors(self, ignore: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        return [(t, m) for t, m in self.messages if t in ("error", "pageerror") and not any(s in m for s in ignore)]


@pytest.fixture
def watch():
    """``watch(page)`` starts recording the page's console; returns the :class:`Console`."""
    return Console


@pytest.fixture
def artifacts(request) -> Path:
    """test-artifacts/browser/<test name>/ (emptied first), for the step screenshots."""
    path = ARTIFACTS / request.node.name.replace("/", "_")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
