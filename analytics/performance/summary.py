"""``get_performance_summary``: the kept in-process timings combined with the calculator's events in the
database.

From the database (events in the window, aggregated in SQL): calculator page-load and step-load quantiles
(``page_load_timing``/``step_load_timing``), the client error rate (sessions with at least one
``client_error``
among sessions with any event — a proportion, so it has a Wilson interval; errors per page view could exceed
1),
email delivery/open/bounce rates (``email_*`` counts), payment success rate and processing-time quantiles.
From this process (its :class:`TimingStore`): server-side calculator load times, database query times per
name,
API response times and the API error rate (status ≥ 500 among requests). Other processes' timings (gunicorn
workers) reach Grafana through statsd instead.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, distinct, func, select

from analytics.errors import InvalidParameterError
from analytics.performance.sql_latency import event_latency
from analytics.performance.stats import LatencyStats, Rate, latency_stats, wilson_rate
from analytics.performance.timings import TimingStore
from analytics.schema import analytics_events as _ev

__all__ = ["PerformanceSummary", "build_summary"]

_Tracker = Callable[[str], AbstractContextManager]
_EMAIL_TYPES = ("email_sent", "email_delivered", "email_opened", "email_bounced")
_PAYMENT_TYPES = ("payment_succeeded", "payment_failed")


@dataclass(frozen=True)
class PerformanceSummary:
    """Everything ``get_performance_summary`` reports for the window ``[start, end)`` (naive UTC).

    Latencies are :class:`LatencyStats` in ms; rates are :class:`Rate` with Wilson intervals; ``counts`` are
    raw event counts; ``notes`` says what could not be computed and why.
    """

    start: datetime
    end: datetime
    page_load: LatencyStats
    step_load: dict[int, LatencyStats]
    calculator_load: LatencyStats
    database_queries: dict[str, LatencyStats]
    slow_queries: dict[str, int]
    api_response: LatencyStats
    api_error_rate: Rate
    client_error_rate: Rate
    email: dict[str, Rate]
    payment_success_rate: Rate
    payment_processing: dict[str, LatencyStats]
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)

    def headline(self) -> pd.DataFrame:
        """One row per headline figure: ``figure, value, ci_low, ci_high, n, unit, note`` (95 % intervals)."""
        rows = []
        for label, s in (("page load p50", self.page_load), ("page load p95", self.page_load),
                         ("page load p99", self.page_load), ("calculator load p95 (this process)",
                                                             self.calculator_load),
                         ("API response p95 (this process)", self.api_response)):
            q = getattr(s, label.split()[2] if label.startswith("page") else "p95")
            rows.append((label, q.value if q else None, q.ci_low if q else None, q.ci_high if q else None,
                         s.count, "ms", s.reason))
        rates = {"client error rate (sessions)": self.client_error_rate, "API error rate": self.api_error_rate,
                 "payment success rate": self.payment_success_rate,
                 **{f"email {k.replace('_', ' ')}": v for k, v in self.email.items()}}
        for label, r in rates.items():
            rows.append((label, r.value, r.ci_low, r.ci_high, r.denominator, "share", r.reason))
        return pd.DataFrame(rows, columns=["figure", "value", "ci_low", "ci_high", "n", "unit", "note"])

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (datetimes as ISO strings)."""
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


def _rate(num: int, den: int, what: str, notes: list[str], confidence: float) -> Rate:
    if num > den:
        notes.append(f"{what}: numerator {num} exceeds denominator {den} in the window "
                     "(events straddle its edges)")
        return Rate(num, den, None, None, None, confidence, "numerator exceeds denominator")
    return wilson_rate(num, den, confidence)


def _event_part(engine: Engine, start: datetime, end: datetime, confidence: float, notes: list[str],
                track: _Tracker) -> dict:
    window = and_(_ev.c.timestamp >= start, _ev.c.timestamp < end)
    empty = latency_stats([], confidence)
    with engine.connect() as conn:
        with track("summary.event_counts"):
            counts = dict(conn.execute(
                select(_ev.c.event_type, func.count()).where(window).group_by(_ev.c.event_type)).all())
        with track("summary.client_error_sessions"):
            sessions, error_sessions = conn.execute(select(
                func.count(distinct(_ev.c.session_id)),
                func.count(distinct(_ev.c.session_id)).filter(_ev.c.event_type == "client_error"),
            ).where(window)).one()
        with track("summary.page_load_quantiles"):
            page = event_latency(conn, ("page_load_timing",), "load_time_ms", start, end, confidence=confidence)
        step_key = _ev.c.event_data["step"].as_integer()
        with track("summary.step_load_quantiles"):
            steps = event_latency(conn, ("step_load_timing",), "load_time_ms", start, end, group=step_key,
                                  confidence=confidence)
        with track("summary.payment_quantiles"):
            proc = event_latency(conn, _PAYMENT_TYPES, "processing_time_ms", start, end, group=_ev.c.event_type,
                                 confidence=confidence)
    counts = {k: int(v) for k, v in counts.items()}
    c = {t: counts.get(t, 0) for t in _EMAIL_TYPES + _PAYMENT_TYPES}
    email = {
        "delivery_rate": _rate(c["email_delivered"], c["email_sent"], "email delivery rate", notes,
                               confidence),
        "open_rate": _rate(c["email_opened"], c["email_delivered"], "email open rate", notes, confidence),
        "bounce_rate": _rate(c["email_bounced"], c["email_sent"], "email bounce rate", notes, confidence),
    }
    paid = c["payment_succeeded"]
    return {
        "page_load": page.get(None, empty),
        "step_load": {int(k): v for k, v in sorted(steps.items()) if k is not None},
        "client_error_rate": wilson_rate(int(error_sessions), int(sessions), confidence),
        "email": email,
        "payment_success_rate": wilson_rate(paid, paid + c["payment_failed"], confidence),
        "payment_processing": {t.removeprefix("payment_"): v for t, v in sorted(proc.items())},
        "counts": counts,
    }


def _kept_part(store: TimingStore, start: float, end: float, slow_query_ms: float, confidence: float) -> dict:
    loads = store.select("calculator_load", start, end)
    queries = store.select("db_query", start, end)
    api = store.select("api", start, end)
    by_name: dict[str, list[float]] = {}
    for r in queries:
        by_name.setdefault(r.name, []).append(r.ms)
    return {
        "calculator_load": latency_stats([r.ms for r in loads], confidence),
        "database_queries": {k: latency_stats(v, confidence) for k, v in sorted(by_name.items())},
        "slow_queries": {k: n for k, v in sorted(by_name.items())
                         if (n := sum(ms > slow_query_ms for ms in v))},
        "api_response": latency_stats([r.ms for r in api], confidence),
        "api_error_rate": wilson_rate(sum(not r.ok for r in api), len(api), confidence),
    }


def _untracked(name: str) -> AbstractContextManager:
    return nullcontext()


def build_summary(store: TimingStore, engine: Engine | None, hours: float = 24, now: datetime | None = None,
                  slow_query_ms: float = 1000.0, confidence: float = 0.95,
                  track: _Tracker = _untracked) -> PerformanceSummary:
    """Combine the kept timings of ``store`` with the events of ``engine`` over the last ``hours``.

    Parameters
    ----------
    store:
        This process' kept timings.
    engine:
        The events database; ``None`` leaves the event-based parts empty (with a note).
    hours:
        Window length, > 0; the window is ``[now - hours, now)``.
    now:
        End of the window (aware, or naive UTC); default the current time.
    track:
        ``track(name)`` context manager timing each of the summary's own SQL queries (the monitor passes its
        :meth:`~PerformanceMonitor.track_database_query`, so the summary's queries show up as
        ``summary.*`` query timings of later summaries).

    Raises
    ------
    InvalidParameterError
        When ``hours`` is not a positive number.
    """
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not hours > 0:
        raise InvalidParameterError("hours", f"'hours' must be a positive number (got hours={hours!r})")
    end = now or datetime.now(UTC)
    if end.tzinfo is not None:
        end = end.astimezone(UTC).replace(tzinfo=None)
    start = end - timedelta(hours=hours)
    notes: list[str] = []
    epoch = datetime(1970, 1, 1)
    if engine is not None:
        events = _event_part(engine, start, end, confidence, notes, track)
    kept = _kept_part(store, (start - epoch).total_seconds(), (end - epoch).total_seconds(), slow_query_ms,
                      confidence)
    if store.dropped:
        notes.append(f"{store.dropped} kept timings were dropped (store holds {store.maxlen}); "
                     "kept stats are partial")
    if engine is None:
        notes.append("no database: event-based figures are empty")
        empty_rate = wilson_rate(0, 0, confidence)
        events = {"page_load": latency_stats([], confidence), "step_load": {},
                  "client_error_rate": empty_rate, "email": {}, "payment_success_rate": empty_rate,
                  "payment_processing": {}, "counts": {}}
    return PerformanceSummary(start=start, end=end, notes=notes, **kept, **events)
