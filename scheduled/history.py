"""Run history: one JSON object per line in ``reports/history.jsonl``.

The history is a file next to the archived reports rather than the ``report_runs`` table so that the
scheduler needs no write access to the analytics database (which may be a read replica), and the record of
a run travels with its files. Lines are appended with ``O_APPEND`` in a single ``write`` and are never
rewritten; a run writes one line when it finishes (or is stopped).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunHistory", "RunRecord"]


@dataclass
class RunRecord:
    """One run of a job for one period.

    Attributes
    ----------
    status:
        ``ok`` (every notebook succeeded), ``failed`` (one or more failed or timed out) or ``skipped``
        (an e-mail was already delivered for the period and the run was not forced).
    delivery:
        ``smtp`` (sent), ``eml`` (written to ``email_file``), ``none`` (skipped) or ``error: ...``.
    alert:
        For failed runs: ``sent``, ``unavailable`` or ``error: ...`` (see :mod:`scheduled.alerting`).
    notebooks:
        Per notebook: ``name``, ``status`` (``ok``/``failed``/``timeout``/``missing``), ``seconds``,
        ``error``.
    """

    run_id: str
    job: str
    period: str
    period_start: str
    period_end: str
    status: str
    started_at: str
    finished_at: str
    duration_s: float
    recipients: list[str]
    files: list[str]
    delivery: str
    email_file: str | None = None
    forced: bool = False
    error: str | None = None
    alert: str | None = None
    notebooks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def delivered(self) -> bool:
        """Whether this run's e-mail left (sent through SMTP or written as the ``.eml`` of record)."""
        return self.delivery in ("smtp", "eml")


class RunHistory:
    """Append-only JSON-lines history under a reports directory."""

    def __init__(self, reports_dir: str | Path) -> None:
        self.path = Path(reports_dir) / "history.jsonl"

    def append(self, record: RunRecord) -> None:
        """Append one record (one ``write`` call of one line, safe against concurrent appenders)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(record), sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def records(self, job: str | None = None, period: str | None = None) -> list[RunRecord]:
        """Records in the order they were written, optionally filtered; a torn last line is ignored."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (job is None or raw.get("job") == job) and (period is None or raw.get("period") == period):
                out.append(RunRecord(**raw))
        return out

    def delivered(self, job: str, period: str) -> RunRecord | None:
        """The last run of ``job`` for ``period`` whose e-mail went out, if any."""
        done = [r for r in self.records(job, period) if r.delivered]
        return done[-1] if done else None
