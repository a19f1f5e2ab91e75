"""The current process id without a system call.

``os.getpid()`` is a system call (glibc stopped caching it in 2.25). The sidecar's hot paths check it on every
request to notice that they run in a forked gunicorn worker (the writer connection, the exposure flusher); under
load on this machine kind py-spy put 4 % of a worker's GIL time in that one call (docs/ingest-measurements.md). The id is read
once and refreshed in every child forked by :func:`os.fork` (``os.register_at_fork``), which is how gunicorn makes
its workers.
"""

from __future__ import annotations

import os

__all__ = ["current_pid"]

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def current_pid() -> int:
    """The id of the calling process (as ``os.getpid()``, kept up to date across forks)."""
    return _pid
