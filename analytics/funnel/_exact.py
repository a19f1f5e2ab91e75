"""The exact funnel evaluator for one person: every attempt, rules 1–8 of ``analytics-semantics.md``.

It is the reference implementation: the fast single-pass aggregate (:mod:`analytics.funnel._fast`) is used only
for the people whose result it provably equals, and everyone else goes through :func:`evaluate_person`.
Rules follow PostHog's funnel semantics (attempt per entry event, strictly-later steps, inclusive window edge,
best attempt per person = most steps then earliest entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from analytics.funnel._spec import FunnelSpec

__all__ = ["Outcome", "evaluate_person"]


class Outcome(NamedTuple):
    """A person's best attempt: steps reached (≥1), the step times (µs since epoch) and the entry's breakdown."""

    reached: int
    times: tuple[int, ...]
    breakdown: str


def evaluate_person(
    ts: Sequence[int], smask: Sequence[int], xmask: Sequence[int], bd: Sequence[str], spec: FunnelSpec
) -> Outcome | None:
    """Best surviving attempt of one person, or ``None`` when the person has none.

    Parameters
    ----------
    ts:
        Event times in microseconds since the epoch, sorted ascending (ties sorted by breakdown value).
    smask:
        Per event, a bit mask of the steps it matches (bit k = step k).
    xmask:
        Per event, a bit mask of the exclusions it matches (bit i = ``spec.exclusions[i]``).
    bd:
        Per event, its breakdown value ("" when missing or no breakdown).
    spec:
        The funnel definition.
    """
    if spec.order == "unordered":
        attempts = _unordered_attempts(ts, smask, spec)
    else:
        attempts = _sequential_attempts(ts, smask, spec, strict=spec.order == "strict")
    best: Outcome | None = None
    for entry, times in attempts:
        if best is not None and len(times) <= best.reached:
            continue
        if spec.exclusions and _excluded(ts, xmask, times, ts[entry] + spec.window_us, spec):
            continue
        best = Outcome(len(times), tuple(times), bd[entry])
        if best.reached == spec.n_steps:
            break
    return best


def _sequential_attempts(ts: Sequence[int], smask: Sequence[int], spec: FunnelSpec, *, strict: bool):
    """Yield ``(entry index, step times)`` per attempt (rules 1, 2, 3, 6, 7), entries in time order."""
    n = len(ts)
    last_entry_ts = None
    for i in range(n):
        if not smask[i] & 1 or ts[i] == last_entry_ts:
            continue  # same-instant entries give the same path; the first (smallest breakdown) wins
        last_entry_ts = ts[i]
        edge = ts[i] + spec.window_us
        times = [ts[i]]
        pos = i
        for k in range(1, spec.n_steps):
            bit = 1 << k
            prev = times[-1]
            while pos < n and ts[pos] <= prev:  # strictly later than the previous step's event
                pos += 1
            found = -1
            if strict:
                nxt = ts[pos] if pos < n else None
                if nxt is not None and nxt <= edge:
                    j = pos
                    while j < n and ts[j] == nxt:
                        if smask[j] & bit:
                            found = j
                            break
                        j += 1
            else:
                j = pos
                while j < n and ts[j] <= edge:
                    if smask[j] & bit:
                        found = j
                        break
                    j += 1
            if found < 0:
                break
            times.append(ts[found])
            pos = found
        yield i, times


def _unordered_attempts(ts: Sequence[int], smask: Sequence[int], spec: FunnelSpec):
    """Yield ``(anchor index, sorted step times)`` per distinct anchor instant (rule 4).

    The steps completed are a maximum matching of steps to distinct events in ``[t, t + window]`` (one event fills
    at most one step, rule 7), found with Kuhn's augmenting paths trying each step's candidates in time order, so
    for steps that no single event can match twice it is each step's first occurrence in the window.
    """
    n = len(ts)
    nsteps = spec.n_steps
    i = 0
    while i < n:
        start = i
        t = ts[i]
        while i < n and ts[i] == t:
            i += 1
        anchor = next((j for j in range(start, i) if smask[j]), -1)
        if anchor < 0:
            continue
        edge = t + spec.window_us
        cands: list[list[int]] = [[] for _ in range(nsteps)]
        j = start
        while j < n and ts[j] <= edge:
            m = smask[j]
            if m:
                for k in range(nsteps):
                    if m >> k & 1 and len(cands[k]) < nsteps:
                        cands[k].append(j)
            j += 1
        owner: dict[int, int] = {}
        chosen = [-1] * nsteps

        def augment(k: int, seen: set[int], cands=cands, owner=owner, chosen=chosen) -> bool:
            for e in cands[k]:
                if e in seen:
                    continue
                seen.add(e)
                if e not in owner or augment(owner[e], seen):
                    owner[e] = k
                    chosen[k] = e
                    return True
            return False

        for k in sorted((k for k in range(nsteps) if cands[k]), key=lambda k: cands[k][0]):
            augment(k, set())
        times = sorted(ts[e] for e in chosen if e >= 0)
        yield anchor, times


def _excluded(ts: Sequence[int], xmask: Sequence[int], times: list[int], edge: int, spec: FunnelSpec) -> bool:
    """Rule 8: an exclusion event strictly after the from-step and strictly before the to-step (or ≤ edge)."""
    reached = len(times)
    for bit_index, ex in enumerate(spec.exclusions):
        if reached <= ex.from_step:
            continue
        lo = times[ex.from_step]
        if reached > ex.to_step:
            hi, inclusive = times[ex.to_step], False
        else:
            hi, inclusive = edge, True
        bit = 1 << bit_index
        for t, m in zip(ts, xmask, strict=True):
            if m & bit and t > lo and (t < hi or (inclusive and t == hi)):
                return True
    return False
