"""ops/nginx/ai-calculator-sidecar.conf: real nginx in front of the real sidecar (gunicorn), as docs/ingest.md's
"Deployment" section advises. Clients that send part of a request and stop tie up nginx, not gunicorn's threads;
bodies over the limit end at nginx; chunked bodies arrive whole."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from analytics.db import get_engine, upgrade
from analytics.schema import analytics_events
from ingest_service.testing import ROOT, Server, free_port, request

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
CONF = ROOT / "ops" / "nginx" / "ai-calculator-sidecar.conf"


def _nginx_conf(tmp: Path, port: int, upstream: int) -> Path:
    temp = "\n".join(f"  {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                       "scgi"))  # fmt: skip
    user = "user root root;\n" if os.geteuid() == 0 else ""  # nginx started by root would switch to nobody
    path = tmp / "nginx.conf"
    path.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n  access_log off;\n{temp}\n"
        f"  upstream ingest_sidecar {{ server 127.0.0.1:{upstream}; keepalive 8; }}\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    include {CONF};\n  }}\n}}\n"
    )
    return path


@pytest.fixture
def proxied(tmp_path):
    """(nginx port, sidecar, engine): a sidecar of one worker with 4 threads on SQLite, nginx in front of it."""
    url = f"sqlite:///{tmp_path / 'proxied.db'}"
    engine = get_engine(url)
    upgrade(engine)
    srv = Server(url, {"INGEST_TRUST_FORWARDED": "1", "INGEST_RATE_LIMIT": "0"}, workers=1, threads=4).start()
    port = free_port()
    conf = _nginx_conf(tmp_path, port, srv.port)
    nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                request(port, "GET", "/api/analytics/health", timeout=2)
                break
            except OSError:
                if nginx.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not start: {nginx.stderr.read().decode(errors='replace')}") from None
                time.sleep(0.1)
        yield port, srv, engine
    finally:
        nginx.terminate()
        nginx.wait(10)
        srv.stop()
        engine.dispose()


def _stalled(port: int, n: int) -> list[socket.socket]:
    """``n`` connections that send the start of a request and then nothing."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /api/analytics/event HTTP/1.1\r\nHost: calc\r\nContent-Type: application/json\r\n")
        socks.append(s)
    return socks


def _event(session: str) -> bytes:
    return b'{"event_type": "ai_calculator_opened", "session_id": "' + session.encode() + b'"}'


def test_stalled_clients_do_not_starve_the_sidecar_behind_nginx(proxied):
    port, srv, engine = proxied
    socks = _stalled(port, 40)  # ten times the sidecar's threads
    try:
        time.sleep(0.5)
        started = time.monotonic()
        r = request(port, "POST", "/api/analytics/event", _event("via-nginx"), {"Content-Type": "application/json"},
                    timeout=10)  # fmt: skip
        assert (r.status, r.json()["accepted"]) == (200, 1)
        assert time.monotonic() - started < 5
    finally:
        for s in socks:
            s.close()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(analytics_events.c.session_id == "via-nginx")).scalar() == 1


def test_the_sidecars_own_page_may_post_through_nginx(proxied):
    """No INGEST_ALLOWED_ORIGINS: the sidecar's own origin (its calculator page) is allowed -- as the browser
    names it, with the port, which nginx must pass on in Host."""
    port, _, _ = proxied
    own = {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{port}"}
    r = request(port, "POST", "/api/analytics/event", _event("own-origin"), own)
    assert (r.status, r.headers.get("access-control-allow-origin")) == (200, f"http://127.0.0.1:{port}")
    other = {**own, "Origin": "https://elsewhere.example"}
    assert request(port, "POST", "/api/analytics/event", _event("other-origin"), other).status == 403


def test_the_same_stalled_clients_stop_gunicorn_alone(proxied):
    """Why the proxy: the sidecar's own port, with as many stalled connections as it has threads, answers nothing."""
    _, srv, _ = proxied
    socks = _stalled(srv.port, 4)
    try:
        time.sleep(0.5)
        with pytest.raises(TimeoutError):
            request(srv.port, "GET", "/api/analytics/health", timeout=3)
    finally:
        for s in socks:
            s.close()


def test_nginx_buffers_chunked_bodies_and_refuses_large_ones(proxied):
    port, _, engine = proxied
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = _event("chunked-via-nginx")
        conn.request("POST", "/api/analytics/event", body=iter([body[:10], body[10:]]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b'{"accepted":1,"duplicates":0,"rejected":[]}')
    finally:
        conn.close()
    r = request(port, "POST", "/api/analytics/event", b" " * (1 << 20) + b"x", {"Content-Type": "application/json"})
    assert r.status == 413  # nginx's own answer: client_max_body_size 1m
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(analytics_events)).scalar() == 1
