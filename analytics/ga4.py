"""Reconciling GA4's counts of the five seed events with our own, by day and traffic source.

GA4 never sees every event we store: ad blockers, declined consent and browsers blocking Google's tags hide a
share of visitors from it, while our first-party tracker and the dedup ledger count each event once. A stable gap
is therefore expected; a day whose gap moves past a configured share is what broken tracking (ours or GA4's)
looks like, and is flagged.

Model and method
----------------
For one cell (day, event, source) let ``n`` be our count and ``k`` GA4's. Treating GA4 as observing each of our
events independently with a capture probability ``q`` (ad blocking and consent act per visitor, so this is an
approximation that understates the variance when visitors are large clusters), ``k ~ Binomial(n, q)``. The
capture rate ``k / n`` is reported with the Wilson score interval (Wilson 1927, *JASA* 22:209-212; recommended
over the Wald interval by Brown, Cai & DasGupta 2001, *Statistical Science* 16:101-133):

.. math:: \\frac{\\hat q + z^2/2n \\pm z\\sqrt{\\hat q(1-\\hat q)/n + z^2/4n^2}}{1 + z^2/n}

A cell is flagged when ``|n - k| / n > tolerance``. When ``k > n`` (GA4 counts more than we stored: our pipeline
lost events, or the two day boundaries differ) or ``n = 0`` the model does not hold; the interval is left empty
and the ``note`` column says why instead of a silent NaN.

Assumption: GA4 reports days in the property's time zone, we count in UTC; the result's ``notes`` say so when the
property's time zone (from the report's metadata) is not UTC.

The GA4 side uses the official ``google-analytics-data`` client (``pip install '.[ga4]'``) over its REST
transport, configured by ``GA4_PROPERTY_ID`` and ``GA4_CREDENTIALS_PATH`` (a service account JSON key); without
them :func:`reconcile_ga4` says so and skips.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from analytics.db import get_read_engine
from analytics.errors import AnalyticsError, InvalidParameterError
from analytics.schema import analytics_events
from analytics.storage import check_period

__all__ = [
    "SEED_EVENTS",
    "GA4Reconciliation",
    "fetch_ga4_counts",
    "ga4_client",
    "our_counts",
    "reconcile",
    "reconcile_ga4",
    "wilson_interval",
]

SEED_EVENTS: tuple[str, ...] = (
    "ai_calculator_opened",
    "calculator_step_completed",
    "assessment_submitted",
    "conversion_offer_viewed",
    "paid_upgrade_clicked",
)
NOT_SET = "(not set)"
_SCOPES = ("https://www.googleapis.com/auth/analytics.readonly",)
_KEYS = ["date", "event_name", "source"]


@dataclass
class GA4Reconciliation:
    """Our counts beside GA4's.

    Attributes
    ----------
    cells:
        One row per (date, event_name, source): ``ours``, ``ga4``, ``difference`` (ours - ga4), ``gap_share``
        (difference / ours), ``capture_rate`` (ga4 / ours) with ``capture_low``/``capture_high`` (Wilson),
        ``flagged``, ``note``.
    days:
        The same columns per date, over the five events and all sources.
    tolerance, confidence:
        The flagging threshold (share of our count) and the interval's confidence level.
    skipped, reason:
        True with the reason when GA4 could not be asked (no property id, no credentials, no client library).
    notes:
        Caveats found on the way (e.g. the property's time zone is not UTC).
    """

    cells: pd.DataFrame
    days: pd.DataFrame
    tolerance: float
    confidence: float = 0.95
    skipped: bool = False
    reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def flagged_days(self) -> list[date]:
        """The days whose total gap is beyond the tolerance."""
        return list(self.days.loc[self.days["flagged"], "date"])


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); ``trials`` must be > 0 and
    ``0 <= successes <= trials``."""
    from statsmodels.stats.proportion import proportion_confint

    if trials <= 0 or not 0 <= successes <= trials:
        raise InvalidParameterError(
            "successes", f"'successes' must be between 0 and 'trials' > 0 (got successes={successes}, trials={trials})"
        )
    lo, hi = proportion_confint(successes, trials, alpha=1 - confidence, method="wilson")
    return max(0.0, float(lo)), min(1.0, float(hi))


def _empty_counts(column: str) -> pd.DataFrame:
    return pd.DataFrame({"date": pd.Series(dtype=object), "event_name": pd.Series(dtype=object),
                         "source": pd.Series(dtype=object), column: pd.Series(dtype="int64")})


def our_counts(
    start_date: Any,
    end_date: Any,
    engine: Engine | None = None,
    events: Sequence[str] = SEED_EVENTS,
) -> pd.DataFrame:
    """Our stored events per (UTC day, event type, source) for days ``start_date``..``end_date`` inclusive.

    Counted in SQL (GROUP BY), so memory does not grow with the number of events. A missing source is reported
    as ``(not set)``, GA4's word for it.
    """
    start, end = check_period(start_date, end_date)
    engine = engine or get_read_engine()
    ev = analytics_events
    day = func.date(ev.c.timestamp).label("date")
    source = func.coalesce(ev.c.source, NOT_SET).label("source")
    stmt = (
        select(day, ev.c.event_type.label("event_name"), source, func.count().label("ours"))
        .where(ev.c.event_type.in_(list(events)))
        .where(ev.c.timestamp >= start.replace(hour=0, minute=0, second=0, microsecond=0))
        .where(ev.c.timestamp < end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1))
        .group_by(day, ev.c.event_type, source)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return _empty_counts("ours")
    frame = pd.DataFrame(rows, columns=["date", "event_name", "source", "ours"])
    frame["date"] = [date.fromisoformat(str(d)[:10]) for d in frame["date"]]
    frame["ours"] = frame["ours"].astype("int64")
    return frame.sort_values(_KEYS, ignore_index=True)


def ga4_client(credentials_path: str | None = None, *, credentials: Any = None, endpoint: str | None = None) -> Any:
    """A ``BetaAnalyticsDataClient`` on the REST transport, from a service-account key file or given
    credentials; ``endpoint`` (e.g. ``http://127.0.0.1:8080``) replaces Google's host."""
    from google.analytics.data_v1beta import BetaAnalyticsDataClient

    if credentials is None and credentials_path:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(credentials_path, scopes=_SCOPES)
    options = {"api_endpoint": endpoint} if endpoint else None
    return BetaAnalyticsDataClient(credentials=credentials, transport="rest", client_options=options)


def fetch_ga4_counts(
    client: Any,
    property_id: str,
    start_date: Any,
    end_date: Any,
    events: Sequence[str] = SEED_EVENTS,
    source_dimension: str = "sessionSource",
    page_size: int = 100_000,
) -> tuple[pd.DataFrame, str | None]:
    """GA4's ``eventCount`` per (date, eventName, source) through ``runReport``, all pages.

    Returns the counts (columns date, event_name, source, ga4) and the property's time zone from the report's
    metadata (None when absent).
    """
    from google.analytics.data_v1beta.types import (
        DateRange,
        Dimension,
        Filter,
        FilterExpression,
        Metric,
        RunReportRequest,
    )

    start, end = check_period(start_date, end_date)
    if page_size < 1:
        raise InvalidParameterError("page_size", f"'page_size' must be a positive integer (got {page_size})")
    records: list[tuple[date, str, str, int]] = []
    time_zone: str | None = None
    offset = 0
    while True:
        request = RunReportRequest(
            property=f"properties/{property_id}",
            date_ranges=[DateRange(start_date=start.date().isoformat(), end_date=end.date().isoformat())],
            dimensions=[Dimension(name="date"), Dimension(name="eventName"), Dimension(name=source_dimension)],
            metrics=[Metric(name="eventCount")],
            dimension_filter=FilterExpression(
                filter=Filter(field_name="eventName", in_list_filter=Filter.InListFilter(values=list(events)))
            ),
            limit=page_size,
            offset=offset,
        )
        response = client.run_report(request)
        if response.metadata and response.metadata.time_zone:
            time_zone = response.metadata.time_zone
        for row in response.rows:
            d, name, source = (v.value for v in row.dimension_values)
            records.append((date(int(d[:4]), int(d[4:6]), int(d[6:8])), name, source or NOT_SET,
                            int(row.metric_values[0].value)))
        offset += len(response.rows)
        if not response.rows or offset >= response.row_count:
            break
    if not records:
        return _empty_counts("ga4"), time_zone
    frame = pd.DataFrame(records, columns=["date", "event_name", "source", "ga4"])
    frame = frame.groupby(_KEYS, as_index=False)["ga4"].sum()
    frame["ga4"] = frame["ga4"].astype("int64")
    return frame.sort_values(_KEYS, ignore_index=True), time_zone


def _compare(frame: pd.DataFrame, tolerance: float, confidence: float) -> pd.DataFrame:
    frame = frame.copy()
    frame["difference"] = frame["ours"] - frame["ga4"]
    share, rate, low, high, flagged, note = [], [], [], [], [], []
    for n, k in zip(frame["ours"], frame["ga4"], strict=True):
        n, k = int(n), int(k)
        if n == 0:
            share.append(math.nan), rate.append(math.nan), low.append(math.nan), high.append(math.nan)
            flagged.append(k > 0)
            note.append("GA4 has events we did not store" if k > 0 else "no events on either side")
            continue
        share.append((n - k) / n)
        rate.append(k / n)
        if k > n:
            low.append(math.nan), high.append(math.nan)
            note.append("GA4 counts more than we stored (lost events or different day boundaries)")
        else:
            lo, hi = wilson_interval(k, n, confidence)
            low.append(lo), high.append(hi)
            note.append("")
        flagged.append(abs(n - k) / n > tolerance)
    for name, values in (("gap_share", share), ("capture_rate", rate), ("capture_low", low), ("capture_high", high)):
        frame[name] = pd.Series(values, index=frame.index, dtype="float64")
    frame["flagged"] = pd.Series(flagged, index=frame.index, dtype=bool)
    frame["note"] = pd.Series(note, index=frame.index, dtype=object)
    return frame


def reconcile(
    ours: pd.DataFrame,
    ga4: pd.DataFrame,
    tolerance: float = 0.2,
    confidence: float = 0.95,
    notes: Iterable[str] = (),
) -> GA4Reconciliation:
    """Set GA4's counts beside ours and flag the cells and days differing by more than ``tolerance``.

    Parameters
    ----------
    ours, ga4:
        Frames from :func:`our_counts` and :func:`fetch_ga4_counts` (date, event_name, source and the count).
    tolerance:
        Share of our count, in (0, 1], beyond which a gap is flagged.
    confidence:
        Level of the Wilson intervals of the capture rate.
    """
    if not 0 < tolerance <= 1:
        raise InvalidParameterError("tolerance", f"'tolerance' must be in (0, 1] (got {tolerance})")
    if not 0 < confidence < 1:
        raise InvalidParameterError("confidence", f"'confidence' must be in (0, 1) (got {confidence})")
    merged = ours.merge(ga4, on=_KEYS, how="outer")
    merged[["ours", "ga4"]] = merged[["ours", "ga4"]].fillna(0).astype("int64")
    merged = merged.sort_values(_KEYS, ignore_index=True)
    days = merged.groupby("date", as_index=False)[["ours", "ga4"]].sum()
    return GA4Reconciliation(
        cells=_compare(merged, tolerance, confidence),
        days=_compare(days, tolerance, confidence),
        tolerance=tolerance,
        confidence=confidence,
        notes=list(notes),
    )


def _skipped(reason: str, tolerance: float, confidence: float) -> GA4Reconciliation:
    empty = reconcile(_empty_counts("ours"), _empty_counts("ga4"), tolerance, confidence)
    return GA4Reconciliation(empty.cells, empty.days, tolerance, confidence, skipped=True,
                             reason=f"GA4 reconciliation skipped: {reason}")


def reconcile_ga4(
    start_date: Any,
    end_date: Any,
    engine: Engine | None = None,
    *,
    tolerance: float = 0.2,
    confidence: float = 0.95,
    property_id: str | None = None,
    credentials_path: str | None = None,
    client: Any = None,
    env: Mapping[str, str] | None = None,
) -> GA4Reconciliation:
    """Pull GA4's counts of the seed events for the period and reconcile them with ours.

    ``property_id`` and ``credentials_path`` default to ``GA4_PROPERTY_ID`` and ``GA4_CREDENTIALS_PATH``; a
    ``client`` (see :func:`ga4_client`) replaces the credentials. Without a property id, credentials or the client
    library, the result is ``skipped`` with the reason, and nothing is raised.
    """
    check_period(start_date, end_date)
    env = os.environ if env is None else env
    property_id = property_id or env.get("GA4_PROPERTY_ID") or None
    credentials_path = credentials_path or env.get("GA4_CREDENTIALS_PATH") or None
    if not property_id:
        return _skipped("GA4_PROPERTY_ID is not set", tolerance, confidence)
    if client is None:
        if not credentials_path:
            return _skipped("GA4_CREDENTIALS_PATH is not set (no credentials)", tolerance, confidence)
        if not os.path.isfile(credentials_path):
            return _skipped(f"GA4_CREDENTIALS_PATH points to no file (got {credentials_path})", tolerance, confidence)
        try:
            client = ga4_client(credentials_path)
        except ImportError:
            return _skipped("google-analytics-data is not installed (pip install '.[ga4]')", tolerance, confidence)
        except (ValueError, OSError) as exc:
            raise AnalyticsError(f"GA4 credentials in {credentials_path} could not be read: {exc}") from exc
    ga4, time_zone = fetch_ga4_counts(client, property_id, start_date, end_date)
    notes = []
    if time_zone and time_zone not in {"UTC", "Etc/UTC", "Etc/GMT", "GMT"}:
        notes.append(f"GA4 reports days in {time_zone}; our counts use UTC days, so day totals can shift")
    return reconcile(our_counts(start_date, end_date, engine), ga4, tolerance, confidence, notes)
