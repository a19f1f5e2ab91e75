"""Run the notebooks of one job in parallel worker processes, under a deadline.

Each notebook runs in its own forked worker process (papermill starts one kernel per notebook, so the
kernel start, ≈3 s, overlaps too). At most ``workers`` run at once — by default the number of usable cores:
on the 2-core reference machine six notebooks took 22 s sequentially, 11 s two at a time and no less three at
a time. When the job's deadline passes, running workers receive SIGTERM (papermill then writes the executed
notebook, and the kernel is shut down), then after a grace period SIGKILL for them and their descendants;
notebooks not yet started are marked ``timeout`` without running.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import psutil

__all__ = ["NotebookResult", "NotebookTask", "default_workers", "execute_notebooks"]

GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class NotebookTask:
    """One notebook to execute with its final parameters."""

    name: str
    source: Path
    parameters: dict[str, Any]


@dataclass(frozen=True)
class NotebookResult:
    """Outcome of one task: ``status`` is ``ok``, ``failed``, ``timeout`` or ``missing``."""

    name: str
    status: str
    seconds: float
    notebook_path: Path | None
    html_path: Path | None
    error: str | None = None


class _Stopped(Exception):
    """Raised inside a worker by SIGTERM (deadline reached)."""


def default_workers() -> int:
    """Cores this process may use (``SCHEDULED_WORKERS`` overrides)."""
    env = os.environ.get("SCHEDULED_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, len(os.sched_getaffinity(0)))


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise _Stopped("stopped at the job's timeout")


def _worker(task: NotebookTask, run_dir: Path, conn: Connection) -> None:
    from analytics.notebook_runner import NotebookFailedError, notebook_to_html, run_notebook

    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.perf_counter()
    record = run_dir / f"{task.source.stem}.ipynb"
    result: dict[str, Any] = {"status": "ok", "error": None, "notebook_path": record, "html_path": None}
    try:
        run = run_notebook(task.source, run_dir, task.parameters)
        result["html_path"] = run.html_path
    except NotebookFailedError as exc:
        result.update(status="failed", error=exc.run.error, html_path=exc.run.html_path)
    except _Stopped as exc:
        result.update(status="timeout", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure of a part is reported, the others go on
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    if result["html_path"] is None and record.exists():
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            result["html_path"] = notebook_to_html(record)
        except Exception:  # noqa: BLE001 - a record that cannot be converted still counts as the record
            pass
    if not record.exists():
        result["notebook_path"] = None
    result["seconds"] = time.perf_counter() - started
    conn.send(result)
    conn.close()


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)


def execute_notebooks(
    tasks: Sequence[NotebookTask], run_dir: Path, *, timeout: float, workers: int | None = None
) -> list[NotebookResult]:
    """Execute ``tasks`` into ``run_dir``, at most ``workers`` at a time, all within ``timeout`` seconds.

    Returns the results in the order of ``tasks``. Never raises for a failing notebook.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or default_workers())
    deadline = time.monotonic() + timeout
    ctx = mp.get_context("fork")
    results: dict[str, NotebookResult] = {}
    pending = []
    for task in tasks:
        if task.source.is_file():
            pending.append(task)
        else:
            results[task.name] = NotebookResult(
                task.name, "missing", 0.0, None, None, f"notebook {str(task.source)!r} does not exist"
            )
    running: dict[Any, tuple[NotebookTask, Any, Connection, float]] = {}
    stopping: dict[Any, float] = {}
    while pending or running:
        while pending and len(running) < workers and time.monotonic() < deadline:
            task = pending.pop(0)
            parent_end, child_end = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(task, run_dir, child_end), name=f"notebook-{task.name}")
            proc.start()
            child_end.close()
            running[proc.sentinel] = (task, proc, parent_end, time.monotonic())
        if not running:
            break
        now = time.monotonic()
        wake = min([deadline] + list(stopping.values())) - now
        ready = wait(list(running), timeout=max(0.05, wake))
        for sentinel in ready:
            task, proc, conn, started = running.pop(sentinel)
            stopping.pop(sentinel, None)
            proc.join()
            payload = conn.recv() if conn.poll() else None
            if payload is None:
                status = "timeout" if now >= deadline else "failed"
                payload = {
                    "status": status,
                    "error": f"worker exited with code {proc.exitcode}",
                    "seconds": time.monotonic() - started,
                    "notebook_path": None,
                    "html_path": None,
                }
                record = run_dir / f"{task.source.stem}.ipynb"
                payload["notebook_path"] = record if record.exists() else None
            results[task.name] = NotebookResult(
                task.name,
                payload["status"],
                payload["seconds"],
                payload["notebook_path"],
                payload["html_path"],
                payload["error"],
            )
        now = time.monotonic()
        if now >= deadline:
            for sentinel, (_task, proc, _conn, _started) in running.items():
                if sentinel not in stopping:
                    os.kill(proc.pid, signal.SIGTERM)
                    stopping[sentinel] = now + GRACE_SECONDS
                elif now >= stopping[sentinel]:
                    _kill_tree(proc.pid)
    for task in pending:
        results[task.name] = NotebookResult(
            task.name, "timeout", 0.0, None, None, "not started: the job's timeout was reached"
        )
    return [results[t.name] for t in tasks]
