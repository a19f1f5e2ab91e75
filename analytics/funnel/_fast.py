"""The single-pass fast funnel on per-person aggregates, and the test of when it is exact.

The fast pass sees, per person and step k, only ``m_k`` (first time the step's event happens), ``M_k`` (last time),
``n0`` (number of entry events) and ``nx`` (number of exclusion events). For an ordered funnel it chains
``t_0 = m_0, t_k = m_k`` while ``m_k > t_{k-1}`` and ``m_k <= t_0 + window``. That equals the exact answer of
``analytics-semantics.md`` (rules 1–7) when

* the chain reaches the last step (the first attempt is then the best one and greedy-earliest is ``m_k``); or
* it breaks at step j with ``M_j <= t_{j-1}``: no attempt can reach step j, because a later attempt's step times
  are never earlier (the "first matching event after x" map is monotone in x); or
* it breaks at step j with ``m_j > t_0 + window`` and there is a single entry event (one attempt only).

Strict funnels are exact when nobody could take step 1 (``M_1 <= m_0``); unordered funnels whose steps have
distinct event names when every step event lies in the first anchor's window. In each of these cases the first
entry's attempt reaches the most steps and is the earliest, so it is the best attempt (rule 5) and the
breakdown value is that of the earliest entry event (ties: the smallest value) — whatever later entries carry.
Anyone with an exclusion event goes to the exact evaluator. Everyone else is exact by construction, so the cost
of exactness is paid only by those who need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.funnel._spec import FunnelSpec

__all__ = ["MAX_SENTINEL", "MIN_SENTINEL", "PersonAggregates", "fast_pass"]

MAX_SENTINEL = np.iinfo(np.int64).max // 4  # "no event" for a first time: later than anything, no overflow
MIN_SENTINEL = np.iinfo(np.int64).min // 4  # "no event" for a last time


@dataclass
class PersonAggregates:
    """Per-person single-pass aggregates (arrays of length P; ``first``/``last`` are P × N, µs since epoch).

    ``uniform_breakdown`` False sends a person to the exact evaluator; the funnel paths set it True because the
    settled people's breakdown value is the earliest entry's (see the module docstring).
    """

    first: np.ndarray
    last: np.ndarray
    n_entries: np.ndarray
    n_excluded: np.ndarray
    uniform_breakdown: np.ndarray


def fast_pass(agg: PersonAggregates, spec: FunnelSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the fast pass; return ``(reached, times, exact)``.

    ``reached`` is the number of steps (0 = not in the funnel), ``times`` the P × N step times, ``exact`` tells
    for whom the result is proven equal to the rule-by-rule evaluation.
    """
    m, big_m = agg.first, agg.last
    p, n = m.shape
    w = spec.window_us
    times = np.full((p, n), MAX_SENTINEL, dtype=np.int64)
    if spec.order == "unordered":
        present = m < MAX_SENTINEL
        reached = present.sum(axis=1)
        anchor = m.min(axis=1)
        latest = big_m.max(axis=1)
        exact = (reached == 0) | ((latest <= anchor + w) & spec.disjoint)
        times = np.sort(m, axis=1)
    else:
        e0 = m[:, 0]
        has = e0 < MAX_SENTINEL
        reached = has.astype(np.int64)
        times[:, 0] = e0
        exact = ~has
        if spec.order == "strict":
            if n == 1:
                exact |= has
            else:
                exact |= has & (big_m[:, 1] <= e0)
        else:
            alive = has.copy()
            prev = e0.copy()
            for k in range(1, n):
                ok = alive & (m[:, k] > prev) & (m[:, k] <= e0 + w)
                broke = alive & ~ok
                exact |= broke & ((big_m[:, k] <= prev) | ((agg.n_entries == 1) & (m[:, k] > e0 + w)))
                times[ok, k] = m[ok, k]
                prev = np.where(ok, m[:, k], prev)
                reached += ok
                alive = ok
            exact |= alive
    involved = reached > 0
    exact &= ~involved | ((agg.n_excluded == 0) & agg.uniform_breakdown)
    return reached, times, exact
