"""gunicorn settings of the sidecar: ``gunicorn -c ingest_service/gunicorn_conf.py ingest_service.app:app``.

Threaded workers (``gthread``): requests of one worker wait for their group commit concurrently, so one fsync
serves all of them. Every setting can be overridden by the environment (``INGEST_BIND``, ``WEB_CONCURRENCY``,
``INGEST_THREADS``) or on the command line. ``INGEST_MIGRATE=1`` (the default) applies the Alembic migrations once
in the master before the workers start.
"""

import os

bind = os.environ.get("INGEST_BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("INGEST_THREADS", "16"))
backlog = 2048
# One listening socket per worker (SO_REUSEPORT): the kernel spreads connections over the workers. With one shared
# socket, whichever worker wakes first accepts a whole burst of keep-alive connections, and one process (one GIL)
# then serves nearly all of them -- measured here: hello-world 2,800 req/s at 130 % CPU instead of 6,200 at 200 %.
reuse_port = True
keepalive = 5
timeout = 30
graceful_timeout = 15
max_requests = 0
# The longest valid request line: three 100-code-point parameters, each up to 4 UTF-8 bytes percent-encoded
# (12 characters per code point) ≈ 3,600 characters plus the path — over gunicorn's 4,094 default (a 414 the API
# document does not promise). 8,190 is gunicorn's maximum.
limit_request_line = 8190
accesslog = os.environ.get("INGEST_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("INGEST_LOG_LEVEL", "info")
proc_name = "ai-calculator-ingest"
# several servers (tests, benchmarks) share this machine: no shared control socket in ~/.gunicorn
control_socket_disable = True


def on_starting(server):  # noqa: ANN001, ANN201 - gunicorn hook
    """Apply the migrations once, in the master, then drop the master's connections before forking."""
    if os.environ.get("INGEST_MIGRATE", "1").strip().lower() in ("1", "true", "yes"):
        from analytics.db import dispose_engines, upgrade

        upgrade()
        dispose_engines()
        os.environ["INGEST_MIGRATE"] = "0"  # done: the workers and their writer process inherit this


def post_fork(server, worker):  # noqa: ANN001, ANN201 - gunicorn hook
    """A worker must not reuse database connections opened by the master."""
    from analytics.db import dispose_engines

    dispose_engines()


def post_worker_init(worker):  # noqa: ANN001, ANN201 - gunicorn hook
    """Connect to the writer process (starting it if needed) now rather than on the first event."""
    from ingest_service.writer_client import warm_up_all

    warm_up_all()
