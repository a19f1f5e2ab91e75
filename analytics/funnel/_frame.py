"""The DataFrame funnel path: match steps, aggregate per person, fast pass, exact evaluation for the rest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from analytics.errors import InvalidParameterError
from analytics.funnel._exact import evaluate_person
from analytics.funnel._fast import MAX_SENTINEL, MIN_SENTINEL, PersonAggregates, fast_pass
from analytics.funnel._result import Outcomes
from analytics.funnel._spec import FunnelSpec, Step

__all__ = ["REQUIRED_COLUMNS", "exact_outcomes", "frame_outcomes", "from_storage", "to_micros"]

REQUIRED_COLUMNS = ("person_id", "event", "timestamp", "properties")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def to_micros(values: Any) -> np.ndarray:
    """Times (naive = UTC, or tz-aware) as int64 microseconds since the epoch."""
    ts = pd.to_datetime(pd.Series(values), utc=True)
    return ((ts - _EPOCH) // pd.Timedelta(microseconds=1)).to_numpy(dtype=np.int64)


def _match_mask(events: pd.DataFrame, steps: Iterable[Step]) -> np.ndarray:
    names = events["event"].to_numpy(dtype=object)
    props = events["properties"].to_numpy(dtype=object)
    mask = np.zeros(len(events), dtype=np.int64)
    for k, step in enumerate(steps):
        hit = names == step.event
        if step.filters:
            idx = np.flatnonzero(hit)
            hit[idx] = [step.matches(step.event, p if isinstance(p, Mapping) else None) for p in props[idx]]
        mask |= hit.astype(np.int64) << k
    return mask


def _breakdown_values(events: pd.DataFrame, key: str | None) -> np.ndarray:
    if key is None:
        return np.full(len(events), "", dtype=object)
    if key in events.columns and key not in REQUIRED_COLUMNS:
        raw = events[key].to_numpy(dtype=object)
    else:
        raw = np.array(
            [p.get(key) if isinstance(p, Mapping) else None for p in events["properties"]], dtype=object
        )
    return np.array(
        ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in raw],
        dtype=object,
    )


def _prepare(events: pd.DataFrame, spec: FunnelSpec) -> pd.DataFrame:
    if not isinstance(events, pd.DataFrame):
        raise InvalidParameterError("events", f"'events' must be a DataFrame (got {type(events).__name__})")
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise InvalidParameterError(
            "events",
            f"'events' must have columns {', '.join(REQUIRED_COLUMNS)} (got {', '.join(map(str, events.columns))}; "
            f"missing {', '.join(missing)})",
        )
    frame = pd.DataFrame(
        {
            "person_id": events["person_id"].astype(str).to_numpy(dtype=object),
            "ts": to_micros(events["timestamp"].to_numpy()),
            "smask": _match_mask(events, spec.steps),
            "xmask": _match_mask(events, [x.step for x in spec.exclusions]),
            "bd": _breakdown_values(events, spec.breakdown),
        }
    )
    if spec.order != "strict":  # strict needs every event (the "very next event" of any name)
        frame = frame[(frame["smask"] != 0) | (frame["xmask"] != 0)]
    return frame.sort_values(["person_id", "ts", "bd"], kind="stable", ignore_index=True)


def _aggregates(frame: pd.DataFrame, spec: FunnelSpec) -> tuple[np.ndarray, PersonAggregates, np.ndarray]:
    n = spec.n_steps
    person, starts = np.unique(frame["person_id"].to_numpy(dtype=object), return_index=True)
    ts = frame["ts"].to_numpy()
    smask = frame["smask"].to_numpy()
    first = np.full((len(person), n), MAX_SENTINEL, dtype=np.int64)
    last = np.full((len(person), n), MIN_SENTINEL, dtype=np.int64)
    for k in range(n):
        hit = (smask >> k & 1).astype(bool)
        first[:, k] = (
            np.minimum.reduceat(np.where(hit, ts, MAX_SENTINEL), starts) if len(ts) else MAX_SENTINEL
        )
        last[:, k] = np.maximum.reduceat(np.where(hit, ts, MIN_SENTINEL), starts) if len(ts) else MIN_SENTINEL
    entry = (smask & 1).astype(bool) if spec.order != "unordered" else smask != 0
    # the earliest entry event's breakdown value (rows are sorted by person, time, value)
    big = np.iinfo(np.int64).max
    rows = np.arange(len(ts), dtype=np.int64)
    first_entry = np.minimum.reduceat(np.where(entry, rows, big), starts) if len(ts) else rows
    values = frame["bd"].to_numpy(dtype=object)
    bd = np.array([values[i] if i < len(values) else "" for i in first_entry], dtype=object)
    n_entries = np.add.reduceat(entry.astype(np.int64), starts) if len(ts) else np.array([], dtype=np.int64)
    n_excl = (
        np.add.reduceat((frame["xmask"].to_numpy() != 0).astype(np.int64), starts) if len(ts) else n_entries
    )
    settled_bd = np.ones(len(person), dtype=bool)  # the first entry's value is the settled people's value
    return person, PersonAggregates(first, last, n_entries, n_excl, settled_bd), bd


def exact_outcomes(
    groups: Iterable[tuple[str, list[int], list[int], list[int], list[str]]], spec: FunnelSpec
) -> Outcomes:
    """Evaluate people one by one with the exact evaluator; ``groups`` yields (person, ts, smask, xmask, bd)."""
    ids, bds, reached, times = [], [], [], []
    pad = [MAX_SENTINEL] * spec.n_steps
    for person, ts, smask, xmask, bd in groups:
        out = evaluate_person(ts, smask, xmask, bd, spec)
        if out is None:
            continue
        ids.append(person)
        bds.append(out.breakdown)
        reached.append(out.reached)
        times.append(list(out.times) + pad[out.reached :])
    if not ids:
        return Outcomes.empty(spec.n_steps)
    return Outcomes(
        np.array(ids, dtype=object),
        np.array(bds, dtype=object),
        np.array(reached, dtype=np.int64),
        np.array(times, dtype=np.int64).reshape(len(ids), spec.n_steps),
    )


def frame_outcomes(events: pd.DataFrame, spec: FunnelSpec, *, exact_only: bool = False) -> Outcomes:
    """Per-person best attempts from an event DataFrame (fast pass where provably exact, else exact)."""
    frame = _prepare(events, spec)
    person, agg, bd = _aggregates(frame, spec)
    if exact_only:
        exact = np.zeros(len(person), dtype=bool)
        reached = np.zeros(len(person), dtype=np.int64)
        times = np.zeros((len(person), spec.n_steps), dtype=np.int64)
    else:
        reached, times, exact = fast_pass(agg, spec)
    keep = exact & (reached > 0)
    fast = Outcomes(person[keep], bd[keep], reached[keep], times[keep])
    todo = set(person[~exact])
    sub = frame[frame["person_id"].isin(todo)]

    def groups():
        for pid, g in sub.groupby("person_id", sort=True):
            yield pid, g["ts"].tolist(), g["smask"].tolist(), g["xmask"].tolist(), g["bd"].tolist()

    return Outcomes.concat([fast, exact_outcomes(groups(), spec)], spec.n_steps)


def from_storage(events: pd.DataFrame) -> pd.DataFrame:
    """Turn :func:`analytics.storage.read_events` output into the funnel's ``person_id, event, timestamp,
    properties`` frame (properties = ``event_data`` with the attribute columns filled in)."""
    from analytics.events import ATTRIBUTE_KEYS

    props = []
    attrs = events[list(ATTRIBUTE_KEYS)].astype(object).to_numpy()
    for data, row in zip(events["event_data"], attrs, strict=True):
        p = dict(data) if isinstance(data, dict) else {}
        for key, value in zip(ATTRIBUTE_KEYS, row, strict=True):
            if key not in p and value is not None and value is not pd.NA:
                p[key] = value
        props.append(p)
    return pd.DataFrame(
        {
            "person_id": events["person_id"].astype(str).to_numpy(dtype=object),
            "event": events["event_type"].astype(str).to_numpy(dtype=object),
            "timestamp": events["timestamp"],
            "properties": props,
        }
    )
