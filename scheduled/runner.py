"""One run of one job: period, lock, idempotency, parallel execution, combined report, e-mail, history."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from analytics.errors import AnalyticsError

from .alerting import alert_failure
from .combined import build_combined_report, count_rendered_figures, zip_report
from .digest import NotebookDigest, digest_notebook
from .execution import NotebookResult, NotebookTask, execute_notebooks
from .history import RunHistory, RunRecord
from .jobs import Job, NotebookSpec
from .message import MAX_EMAIL_BYTES, ReportPart, compose_email, send_or_write, smtp_settings
from .periods import Period, period_for

__all__ = ["DEFAULT_REPORTS_DIR", "JobRunningError", "run_job"]

log = logging.getLogger(__name__)
DEFAULT_REPORTS_DIR = Path(os.environ.get("REPORTS_DIR", "reports"))
_DATE_KEYS = ("start_date", "end_date", "as_of", "period_label", "start_ts", "end_ts", "timezone")


class JobRunningError(AnalyticsError):
    """Another process holds the job's lock (a run of the same job is in progress)."""

    def __init__(self, job: str) -> None:
        self.job = job
        super().__init__(f"job {job!r} is already running (lock held); not starting a second run")


def _declared(source: Path) -> set[str]:
    import papermill as pm

    try:
        return set(pm.inspect_notebook(str(source)))
    except Exception:  # noqa: BLE001 - an unreadable notebook fails later, in its worker
        return set()


def _task(spec: NotebookSpec, period: Period, database_url: str | None) -> NotebookTask:
    """Parameters: the period values the notebook declares, ``database_url`` if given, the fixed ones."""
    declared = _declared(spec.path) if spec.path.is_file() else set()
    params: dict[str, Any] = {k: v for k, v in period.parameters().items() if k in declared}
    if database_url is not None and "database_url" in declared:
        params["database_url"] = database_url
    params.update(spec.parameters)
    return NotebookTask(spec.name, spec.path, params)


def _period_text(period: Period) -> str:
    if period.start == period.end:
        return f"{period.start:%a %d %b %Y}"
    return f"{period.start:%a %d %b} – {period.end:%a %d %b %Y} ({period.label})"


def _digest(result: NotebookResult) -> NotebookDigest | None:
    if result.notebook_path is None:
        return None
    try:
        return digest_notebook(result.notebook_path)
    except Exception as exc:  # noqa: BLE001 - an unreadable record degrades to the status line
        log.warning("cannot read %s: %s", result.notebook_path, exc)
        return None


def _supersede(run_dir: Path) -> None:
    """Move a previous attempt's files aside (``<period>.superseded-<run id>``) before re-running."""
    if not run_dir.exists():
        return
    try:
        old = json.loads((run_dir / "run.json").read_text())["run_id"]
    except (OSError, ValueError, KeyError):
        old = f"{int(time.time())}"
    run_dir.rename(run_dir.with_name(f"{run_dir.name}.superseded-{old}"))


def run_job(
    job: Job,
    *,
    sender: str,
    run_date: date | None = None,
    force: bool = False,
    reports_dir: Path | None = None,
    database_url: str | None = None,
    workers: int | None = None,
    env: dict[str, str] | None = None,
    max_email_bytes: int = MAX_EMAIL_BYTES,
) -> RunRecord:
    """Run ``job`` for the period a run on ``run_date`` reports and deliver its e-mail.

    Parameters
    ----------
    job:
        The job definition.
    sender:
        ``From`` address.
    run_date:
        Local date (job's zone) of the run; default: today there. ``previous_week`` on any day of a week
        reports the Monday–Sunday week before it.
    force:
        Run and e-mail even when an e-mail for the period was already delivered.
    reports_dir:
        Archive root; the run writes ``<reports_dir>/<job>/<period>/`` and appends to
        ``<reports_dir>/history.jsonl``.
    database_url:
        Injected as ``database_url`` into the notebooks that declare it (default: their own default).
    workers:
        Notebooks executed at once (default: usable cores).
    env:
        Environment for the SMTP settings (default: ``os.environ``).

    Returns
    -------
    RunRecord
        Also appended to the history. ``status`` is ``ok``, ``failed`` or ``skipped``.

    Raises
    ------
    JobRunningError
        When another run of the same job holds its lock.
    """
    reports_dir = Path(reports_dir or DEFAULT_REPORTS_DIR)
    run_date = run_date or datetime.now(job.tz).date()
    period = period_for(job.period, run_date, job.timezone)
    history = RunHistory(reports_dir)
    job_dir = reports_dir / job.name
    job_dir.mkdir(parents=True, exist_ok=True)
    lock = open(job_dir / ".lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobRunningError(job.name) from None
        return _run_locked(
            job, period, sender, force, job_dir, history, database_url, workers, env, max_email_bytes
        )
    finally:
        lock.close()


def _run_locked(
    job: Job,
    period: Period,
    sender: str,
    force: bool,
    job_dir: Path,
    history: RunHistory,
    database_url: str | None,
    workers: int | None,
    env: dict[str, str] | None,
    max_email_bytes: int,
) -> RunRecord:
    run_id = uuid.uuid4().hex[:12]
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    base = {
        "run_id": run_id,
        "job": job.name,
        "period": period.label,
        "period_start": period.start.isoformat(),
        "period_end": period.end.isoformat(),
        "started_at": started.isoformat(),
        "recipients": list(job.recipients),
        "forced": force,
    }
    previous = history.delivered(job.name, period.label)
    if previous is not None and not force:
        record = RunRecord(
            **base,
            status="skipped",
            finished_at=datetime.now(UTC).isoformat(),
            duration_s=0.0,
            files=[],
            delivery="none",
            error=f"already e-mailed by run {previous.run_id} at {previous.finished_at}; "
            "use --force to send again",
        )
        history.append(record)
        return record
    run_dir = job_dir / period.label
    _supersede(run_dir)
    run_dir.mkdir(parents=True)
    tasks = [_task(spec, period, database_url) for spec in job.notebooks]
    results = execute_notebooks(tasks, run_dir, timeout=job.timeout, workers=workers)
    digests = {r.name: _digest(r) for r in results}
    notes: list[str] = []
    files = [str(p) for r in results for p in (r.notebook_path, r.html_path) if p is not None]
    attachment = None
    executed = [
        ((digests[r.name].title if digests[r.name] else r.name), r.notebook_path)
        for r in results
        if r.notebook_path is not None
    ]
    if executed:
        combined = build_combined_report(executed, run_dir / "report.html", f"{job.title} — {period.label}")
        expected = sum(len(d.figures) for d in digests.values() if d)
        drawn = count_rendered_figures(combined.read_text(encoding="utf-8"))
        if drawn < expected:
            notes.append(f"only {drawn} of {expected} charts are drawn in the interactive report")
        lost = sum(d.lost_figures for d in digests.values() if d)
        if lost:
            notes.append(
                f"{lost} figure(s) have no HTML rendering (set the notebook+plotly_mimetype renderer)"
            )
        attachment = zip_report(combined, run_dir / f"report-{job.name}-{period.label}.zip")
        files += [str(combined), str(attachment)]
    parts = [ReportPart(r.name, r.status, r.seconds, r.error, digests[r.name]) for r in results]
    msg = compose_email(
        title=job.title,
        period_text=_period_text(period),
        parts=parts,
        sender=sender,
        recipients=job.recipients,
        archive=str(run_dir.resolve()),
        attachment=attachment,
        max_bytes=max_email_bytes,
    )
    eml = run_dir / "email.eml"
    try:
        delivery = send_or_write(msg, eml, smtp_settings(env))
    except Exception as exc:  # noqa: BLE001 - smtplib and sockets raise many types; the run records it
        delivery = f"error: {type(exc).__name__}: {exc}"
    files.append(str(eml))
    failed = [r for r in results if r.status != "ok"]
    errors = [f"{r.name}: {r.status}{' — ' + r.error if r.error else ''}" for r in failed]
    if delivery.startswith("error"):
        errors.append(f"e-mail: {delivery}")
    record = RunRecord(
        **base,
        status="failed" if errors else "ok",
        finished_at=datetime.now(UTC).isoformat(),
        duration_s=round(time.perf_counter() - t0, 3),
        files=files,
        delivery=delivery,
        email_file=str(eml),
        error="; ".join(errors + notes) or None,
        notebooks=[
            {"name": r.name, "status": r.status, "seconds": round(r.seconds, 3), "error": r.error}
            for r in results
        ],
    )
    if record.status == "failed":
        record.alert = alert_failure(record, env)
    (run_dir / "run.json").write_text(json.dumps(asdict(record), indent=2, default=str), encoding="utf-8")
    history.append(record)
    return record
