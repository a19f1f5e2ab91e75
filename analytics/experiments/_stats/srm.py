"""Sample ratio mismatch (SRM): do the observed arm sizes match the configured weights?

Pearson's chi-square goodness-of-fit test of the exposed-unit counts against ``N · w_i`` (Fabijan et al. 2019,
"Diagnosing Sample Ratio Mismatch in Online Controlled Experiments"). The default threshold ``p < 0.001``
is GrowthBook's and Microsoft ExP's: SRM checks run on every test and every look, so a strict threshold keeps
false alarms rare. A failed SRM means assignment or logging is broken and every other result is suspect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analytics.errors import InvalidParameterError

__all__ = ["SrmResult", "srm_check"]


@dataclass(frozen=True)
class SrmResult:
    """Outcome of the SRM check.

    Attributes
    ----------
    ok:
        False when ``p_value < threshold`` (a mismatch): stop reading the results.
    observed, expected:
        Units per arm and the counts the weights predict.
    chi2, df, p_value:
        Pearson's statistic, df (arms − 1) and p-value (1.0 when there is nothing to test).
    message:
        One sentence for a report, loud when the check fails.
    """

    method: str
    threshold: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    df: int
    p_value: float
    ok: bool
    message: str


def srm_check(observed: Sequence[int], weights: Sequence[float], *, threshold: float = 0.001) -> SrmResult:
    """Chi-square test of observed arm sizes against the configured weights.

    Parameters
    ----------
    observed:
        Exposed units per arm, in the order of ``weights``.
    weights:
        Configured traffic weights (normalised here; they need not sum to 1).
    threshold:
        p-value below which the test is flagged (default 0.001).
    """
    obs = np.asarray(observed, dtype=float)
    w = np.asarray(weights, dtype=float)
    if obs.shape != w.shape or obs.size < 2:
        raise InvalidParameterError(
            "weights",
            "'weights' must have one entry per arm and at least 2 arms "
            f"(got {w.size} weights, {obs.size} arms)",
        )
    if (w <= 0).any() or (obs < 0).any():
        raise InvalidParameterError(
            "weights",
            f"'weights' must be > 0 and counts >= 0 (got weights={list(weights)}, observed={list(observed)})",
        )
    if not 0 < threshold < 1:
        raise InvalidParameterError("threshold", f"'threshold' must be in (0, 1) (got threshold={threshold})")
    method = "Pearson chi-square goodness of fit against configured weights"
    total = obs.sum()
    expected = total * w / w.sum()
    counts = tuple(int(x) for x in obs)
    if total == 0:
        return SrmResult(
            method,
            threshold,
            counts,
            tuple(expected.tolist()),
            0.0,
            obs.size - 1,
            1.0,
            True,
            "No exposed units yet: nothing to check.",
        )
    res = stats.chisquare(obs, expected)
    chi2, p = float(res.statistic), float(res.pvalue)
    ok = p >= threshold
    share = ", ".join(f"{o / total:.1%}" for o in obs)
    target = ", ".join(f"{e / total:.1%}" for e in expected)
    if ok:
        message = f"SRM check passed (p = {p:.3g}): observed split {share} vs configured {target}."
    else:
        message = (
            f"SAMPLE RATIO MISMATCH (p = {p:.2g} < {threshold:g}): "
            f"observed split {share} vs configured {target}. "
            "Assignment or exposure logging is broken; do not trust any result of this test."
        )
    return SrmResult(method, threshold, counts, tuple(expected.tolist()), chi2, obs.size - 1, p, ok, message)
