"""Rule-based and Markov-chain revenue attribution (``analytics-semantics.md`` rules 15–17).

Money is handled in integer cents: each conversion's revenue is split over its touches with the largest-remainder
(Hamilton) method, so the credits of one conversion sum to its revenue exactly and so do the model totals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError

__all__ = ["DIRECT", "MODELS", "apportion", "markov_removal_effects", "rule_based_credits", "touch_weights"]

DIRECT = "(direct)"
MODELS = ("first_touch", "last_touch", "linear", "position_based", "time_decay")


def apportion(cents: int, weights: Sequence[float]) -> list[int]:
    """Split ``cents`` in proportion to ``weights`` into integers summing exactly to ``cents``.

    Largest-remainder (Hamilton) method: floor every share, then hand the leftover cents to the largest
    fractional parts (earlier positions first on ties).
    """
    w = np.asarray(weights, dtype=float)
    total = w.sum()
    if len(w) == 0 or total <= 0:
        raise InvalidParameterError(
            "weights", f"'weights' must be non-empty with a positive sum (got {list(w)})"
        )
    exact = cents * w / total
    base = np.floor(exact).astype(np.int64)
    left = int(cents - base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(exact[i] - base[i]), i))
    for i in order[:left]:
        base[i] += 1
    return base.tolist()


def touch_weights(model: str, ages_s: Sequence[float], half_life_s: float) -> list[float]:
    """Weights of the touches (oldest first, ``ages_s`` = seconds before the conversion) under ``model``.

    first/last touch: all on one touch; linear: 1/n each; position-based: 40 % first, 40 % last, 20 % shared by
    the middle (two touches 50/50, one touch 100 %); time decay: ``2 ** (-age / half_life)``.
    """
    n = len(ages_s)
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0] * n
    if model == "position_based":
        if n <= 2:
            return [1.0] * n
        return [0.4] + [0.2 / (n - 2)] * (n - 2) + [0.4]
    if model == "time_decay":
        return [2.0 ** (-a / half_life_s) for a in ages_s]
    raise InvalidParameterError("model", f"'model' must be one of {', '.join(MODELS)} (got {model!r})")


def rule_based_credits(
    touches: pd.DataFrame, conversions: pd.DataFrame, *, lookback: timedelta, half_life: timedelta
) -> pd.DataFrame:
    """Cents credited to each channel by every rule-based model.

    ``touches``: ``person_id, timestamp, channel``; ``conversions``: ``person_id, timestamp, cents``. A touch
    counts for a conversion when it lies in ``[conversion − lookback, conversion]``; a conversion without one is
    credited to ``(direct)``. Returns one row per channel, one integer column per model, plus ``conversions``
    (the number of conversions whose last touch is the channel).
    """
    by_person: dict[str, list[tuple[pd.Timestamp, str]]] = defaultdict(list)
    for p, t, c in touches.sort_values(["person_id", "timestamp", "channel"])[
        ["person_id", "timestamp", "channel"]
    ].itertuples(index=False):
        by_person[p].append((t, c))
    totals: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys((*MODELS, "conversions"), 0))
    lb, hl = lookback.total_seconds(), half_life.total_seconds()
    for p, t_conv, cents in conversions[["person_id", "timestamp", "cents"]].itertuples(index=False):
        path = [(t, c) for t, c in by_person.get(p, []) if 0 <= (t_conv - t).total_seconds() <= lb]
        if not path:
            path = [(t_conv, DIRECT)]
        ages = [(t_conv - t).total_seconds() for t, _ in path]
        totals[path[-1][1]]["conversions"] += 1
        for model in MODELS:
            for (_, channel), share in zip(
                path, apportion(int(cents), touch_weights(model, ages, hl)), strict=True
            ):
                totals[channel][model] += share
    frame = pd.DataFrame.from_dict(totals, orient="index")
    if frame.empty:
        return pd.DataFrame(columns=["channel", *MODELS, "conversions"])
    return frame.rename_axis("channel").reset_index()


def markov_removal_effects(paths: Sequence[tuple[Sequence[str], bool]]) -> tuple[dict[str, float], float]:
    """First-order Markov removal effects (Anderl, Becker, von Wangenheim & Schumann 2016, IJRM 33(3):457).

    Each path is ``(channels in time order, converted)``; the chain is ``start → channels → conversion | null``
    with transition probabilities estimated by counts. ``P(conv)`` is the absorption probability in conversion
    from ``start`` (solving ``(I − Q) x = r``); removing channel c sends every transition into c to null, and
    ``RE(c) = 1 − P(conv without c) / P(conv)``. Returns ``({channel: RE}, P(conv))``.
    """
    channels = sorted({c for path, _ in paths for c in path})
    states = ["start", *channels]
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    counts = np.zeros((n, n + 2))  # columns: transient states, then conversion, then null
    for path, converted in paths:
        prev = idx["start"]
        for c in path:
            counts[prev, idx[c]] += 1
            prev = idx[c]
        counts[prev, n if converted else n + 1] += 1
    rows = counts.sum(axis=1, keepdims=True)
    prob = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)

    def p_conv(removed: int | None) -> float:
        q = prob[:, :n].copy()
        r = prob[:, n].copy()
        if removed is not None:
            q[:, removed] = 0.0  # transitions into the removed channel go to null
            q[removed, :] = 0.0
            r[removed] = 0.0
        x = np.linalg.solve(np.eye(n) - q, r)
        return float(x[idx["start"]])

    base = p_conv(None)
    if base <= 0:
        return dict.fromkeys(channels, 0.0), 0.0
    return {c: 1.0 - p_conv(idx[c]) / base for c in channels}, base
