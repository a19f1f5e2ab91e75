"""``python -m ingest_service [--bind HOST:PORT] [--workers N] [--threads N]``: gunicorn with the sidecar's settings."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run gunicorn with ``ingest_service/gunicorn_conf.py`` (replaces this process)."""
    parser = argparse.ArgumentParser(prog="python -m ingest_service", description=__doc__)
    parser.add_argument("--bind", default=os.environ.get("INGEST_BIND", "127.0.0.1:5000"))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("INGEST_THREADS", "16")))
    args = parser.parse_args(argv)
    conf = Path(__file__).resolve().parent / "gunicorn_conf.py"
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(conf), "--bind", args.bind, "--workers", str(args.workers),
           "--threads", str(args.threads), "ingest_service.app:app"]
    os.execv(sys.executable, cmd)


if __name__ == "__main__":
    main()
