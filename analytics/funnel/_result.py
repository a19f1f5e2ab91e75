"""Funnel results: per-person outcomes turned into the step table, and the people behind each step."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from analytics.errors import InvalidParameterError
from analytics.funnel._spec import FunnelSpec

__all__ = ["FunnelResult", "Outcomes", "build_result"]

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
    outcomes: Outcomes = field(repr=False)

    def people(self, step: int, *, dropped: bool = False, breakdown: str | None = None) -> list[str]:
        """Sorted person ids counted at ``step`` (``dropped=True``: counted at ``step - 1`` but not ``step``)."""
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


def build_result(outcomes: Outcomes, spec: FunnelSpec, *, confidence: float = 0.95) -> FunnelResult:
    """Aggregate per-person outcomes into the step table (rules 5, 9 and 10)."""
    blocks = []
    if spec.breakdown is None:
        blocks.append(_block(outcomes, np.ones(len(outcomes.reached), dtype=bool), spec, confidence))
    else:
        values, counts = np.unique(outcomes.breakdown.astype(str), return_counts=True)
        for value in [v for _, v in sorted(zip(-counts, values, strict=True))]:
            block = _block(outcomes, outcomes.breakdown == value, spec, confidence)
            block.insert(0, "breakdown", value)
            blocks.append(block)
    if not blocks:
        table = pd.DataFrame(columns=["breakdown", *TABLE_COLUMNS])
    else:
        table = pd.concat(blocks, ignore_index=True)
    return FunnelResult(table, spec, outcomes)


def _block(o: Outcomes, sel: np.ndarray, spec: FunnelSpec, confidence: float) -> pd.DataFrame:
    reached = o.reached[sel]
    times = o.times[sel]
    rows = []
    first = int((reached > 0).sum())
    prev_count = first
    for k, step in enumerate(spec.steps):
        count = int((reached > k).sum())
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
                d = (times[reached > k, k] - times[reached > k, k - 1]).astype(np.float64) / 1e6
                row.update(
                    median_time_to_convert_s=float(np.median(d)), mean_time_to_convert_s=float(d.mean())
                )
            else:
                row.update(median_time_to_convert_s=np.nan, mean_time_to_convert_s=np.nan)
                row["note"] = row["note"] or "nobody reached this step"
        rows.append(row)
        prev_count = count
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)
