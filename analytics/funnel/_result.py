"""Funnel results: per-person outcomes turned into the step table, and the people behind each step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.funnel._spec import FunnelSpec

__all__ = ["FunnelResult", "Outcomes", "StepTotals", "build_result"]

TABLE_COLUMNS = [
    "step",
    "step_name",
    "count",
    "conversion_from_first",
    "ci_low",
    "ci_high",
    "conversion_from_previous",
    "drop_off",
    "drop_off_rate",
    "median_time_to_convert_s",
    "mean_time_to_convert_s",
    "note",
]


@dataclass
class Outcomes:
    """Each entering person's best attempt: ids, entry breakdown value, steps reached (≥1), step times (µs)."""

    person_id: np.ndarray
    breakdown: np.ndarray
    reached: np.ndarray
    times: np.ndarray

    @classmethod
    def empty(cls, n_steps: int) -> Outcomes:
        return cls(
            np.array([], dtype=object),
            np.array([], dtype=object),
            np.array([], dtype=np.int64),
            np.zeros((0, n_steps), dtype=np.int64),
        )

    @classmethod
    def concat(cls, parts: list[Outcomes], n_steps: int) -> Outcomes:
        parts = [p for p in parts if len(p.reached)]
        if not parts:
            return cls.empty(n_steps)
        return cls(
            np.concatenate([p.person_id for p in parts]),
            np.concatenate([p.breakdown for p in parts]),
            np.concatenate([p.reached for p in parts]),
            np.concatenate([p.times for p in parts]),
        )


@dataclass
class StepTotals:
    """Per breakdown value and step: people counted, and the sum and median of time from the previous step.

    ``count``, ``dur_sum`` (integer microseconds) and ``median`` (microseconds; NaN when nobody) are
    ``B x N`` arrays, one row per value of ``breakdown`` ("" without a breakdown). Both funnel paths reduce to
    this, so the step table is built by one function: the DataFrame path from :class:`Outcomes`, the database
    path from ``GROUP BY`` totals.
    """

    breakdown: list[str]
    count: np.ndarray
    dur_sum: np.ndarray
    median: np.ndarray

    @classmethod
    def from_outcomes(cls, o: Outcomes, spec: FunnelSpec) -> StepTotals:
        """Totals of in-memory outcomes (the median of an even count is the mean of the two middle values)."""
        n = spec.n_steps
        values = [""] if spec.breakdown is None else sorted(set(o.breakdown.astype(str).tolist()))
        count = np.zeros((len(values), n), dtype=np.int64)
        dur_sum = np.zeros((len(values), n), dtype=np.int64)
        median = np.full((len(values), n), np.nan)
        for b, value in enumerate(values):
            sel = np.ones(len(o.reached), dtype=bool) if spec.breakdown is None else o.breakdown == value
            reached, times = o.reached[sel], o.times[sel]
            for k in range(n):
                hit = reached > k
                count[b, k] = int(hit.sum())
                if k and count[b, k]:
                    d = times[hit, k] - times[hit, k - 1]
                    dur_sum[b, k] = int(d.sum())
                    median[b, k] = float(np.median(d))
        return cls(values, count, dur_sum, median)


@dataclass
class FunnelResult:
    """A funnel's step table plus the people behind it.

    Attributes
    ----------
    table:
        One row per step (and per breakdown value, in a ``breakdown`` column first, blocks ordered by entry count):
        ``count``, ``conversion_from_first`` with its 95 % Wilson interval (``ci_low``, ``ci_high``; Wilson 1927,
        J. Am. Stat. Assoc. 22:209), ``conversion_from_previous``, ``drop_off`` (people lost since the previous
        step) and ``drop_off_rate``, and the median/mean seconds from the previous step (rule 10); ``note`` says
        why a value is missing.
    spec:
        The validated funnel definition.
    """

    table: pd.DataFrame
    spec: FunnelSpec
    _outcomes: Outcomes | None = field(default=None, repr=False)
    _loader: Callable[[], Outcomes] | None = field(default=None, repr=False)

    @property
    def outcomes(self) -> Outcomes:
        """Per-person outcomes (for a database funnel fetched on first use: ids, breakdown, steps reached)."""
        if self._outcomes is None:
            if self._loader is None:
                raise RuntimeError("FunnelResult has neither outcomes nor a loader")  # pragma: no cover
            self._outcomes = self._loader()
        return self._outcomes

    def people(self, step: int, *, dropped: bool = False, breakdown: str | None = None) -> list[str]:
        """Sorted person ids counted at ``step`` (``dropped=True``: counted at ``step - 1`` but not ``step``).

        For a database funnel the first call recomputes the per-person outcomes in the database and keeps the
        ids, breakdown values and steps reached (not the times) for later calls.
        """
        n = self.spec.n_steps
        low = 1 if dropped else 0
        if not isinstance(step, int) or isinstance(step, bool) or not low <= step < n:
            raise InvalidParameterError(
                "step", f"'step' must be an integer in [{low}, {n - 1}] (got {step!r})"
            )
        o = self.outcomes
        sel = (o.reached == step) if dropped else (o.reached > step)
        if breakdown is not None:
            sel &= o.breakdown == breakdown
        return sorted(str(p) for p in o.person_id[sel])


def build_result(
    outcomes: Outcomes | StepTotals,
    spec: FunnelSpec,
    *,
    confidence: float = 0.95,
    loader: Callable[[], Outcomes] | None = None,
) -> FunnelResult:
    """Aggregate per-person outcomes (or their totals plus a ``loader`` of the people) into the step table
    (rules 5, 9 and 10)."""
    if isinstance(outcomes, Outcomes):
        totals, kept = StepTotals.from_outcomes(outcomes, spec), outcomes
    else:
        totals, kept = outcomes, None
    blocks = []
    if spec.breakdown is None:
        if totals.breakdown:
            blocks.append(_block(totals, 0, spec, confidence))
        else:
            empty = StepTotals([""], *(np.zeros((1, spec.n_steps), dtype=np.int64) for _ in range(2)),
                               np.full((1, spec.n_steps), np.nan))
            blocks.append(_block(empty, 0, spec, confidence))
    else:
        order = sorted(range(len(totals.breakdown)), key=lambda b: (-totals.count[b, 0], totals.breakdown[b]))
        for b in order:
            block = _block(totals, b, spec, confidence)
            block.insert(0, "breakdown", totals.breakdown[b])
            blocks.append(block)
    if not blocks:
        table = pd.DataFrame(columns=["breakdown", *TABLE_COLUMNS])
    else:
        table = pd.concat(blocks, ignore_index=True)
    return FunnelResult(table, spec, kept, loader)


def _block(t: StepTotals, b: int, spec: FunnelSpec, confidence: float) -> pd.DataFrame:
    rows = []
    first = int(t.count[b, 0])
    prev_count = first
    for k, step in enumerate(spec.steps):
        count = int(t.count[b, k])
        row = {"step": k, "step_name": step.display(), "count": count, "note": ""}
        if first:
            lo, hi = proportion_confint(count, first, alpha=1 - confidence, method="wilson")
            row.update(conversion_from_first=count / first, ci_low=float(lo), ci_high=float(hi))
        else:
            row.update(
                conversion_from_first=np.nan, ci_low=np.nan, ci_high=np.nan, note="nobody entered the funnel"
            )
        if k == 0:
            row.update(conversion_from_previous=np.nan, drop_off=0, drop_off_rate=np.nan)
            row.update(median_time_to_convert_s=np.nan, mean_time_to_convert_s=np.nan)
            row["note"] = row["note"] or "first step: no previous step"
        else:
            row["drop_off"] = prev_count - count
            if prev_count:
                row.update(conversion_from_previous=count / prev_count, drop_off_rate=1 - count / prev_count)
            else:
                row.update(conversion_from_previous=np.nan, drop_off_rate=np.nan)
            if count:
                row.update(
                    median_time_to_convert_s=float(t.median[b, k]) / 1e6,
                    mean_time_to_convert_s=int(t.dur_sum[b, k]) / count / 1e6,
                )
            else:
                row.update(median_time_to_convert_s=np.nan, mean_time_to_convert_s=np.nan)
                row["note"] = row["note"] or "nobody reached this step"
        rows.append(row)
        prev_count = count
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
