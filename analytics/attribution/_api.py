"""``attribute()``: revenue by channel under every model, from DataFrames or from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Float, and_, func, select
from sqlalchemy.engine import Connection, Engine

from analytics.attribution._models import (
    DIRECT,
    MODELS,
    apportion,
    markov_removal_effects,
    rule_based_credits,
)
from analytics.errors import InvalidParameterError

__all__ = ["CHANNEL_KEYS", "attribute", "load_touches_and_conversions"]

CHANNEL_KEYS = ("source", "medium", "campaign")
REVENUE_EVENTS = ("payment_succeeded", "subscription_renewed")


def _channel(frame: pd.DataFrame, by: tuple[str, ...]) -> pd.Series:
    parts = [frame[k].astype(object).where(frame[k].notna(), "(not set)").astype(str) for k in by]
    out = parts[0]
    for p in parts[1:]:
        out = out + " / " + p
    return out


def _check_by(by: str | tuple[str, ...]) -> tuple[str, ...]:
    keys = (by,) if isinstance(by, str) else tuple(by)
    if not keys or any(k not in CHANNEL_KEYS for k in keys):
        raise InvalidParameterError(
            "by", f"'by' must be one or more of {', '.join(CHANNEL_KEYS)} (got {by!r})"
        )
    return keys


def attribute(
    touches: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    by: str | tuple[str, ...] = "source",
    lookback: timedelta = timedelta(days=30),
    half_life: timedelta = timedelta(days=7),
) -> pd.DataFrame:
    """Revenue credited to each channel by six attribution models.

    Parameters
    ----------
    touches:
        ``person_id, timestamp`` and the channel keys (``source``, ``medium``, ``campaign``): one row per session
        that came with a traffic source.
    conversions:
        ``person_id, timestamp, revenue`` (currency units; rounded to cents).
    by:
        Channel definition: a key or a tuple of keys (joined with ``" / "``; missing → ``(not set)``).
    lookback:
        Touches count for a conversion when in ``[conversion − lookback, conversion]`` (rule 15).
    half_life:
        Half-life of the time-decay model (rule 16).

    Returns
    -------
    pandas.DataFrame
        One row per channel: ``first_touch, last_touch, linear, position_based, time_decay, markov`` (revenue)
        and ``conversions`` (by last touch), sorted by linear revenue. Every model column sums exactly (in cents)
        to the total revenue; ``markov`` distributes it by normalised removal effects (rule 17) over each
        person's path in the data (touches before their first conversion; non-converters: all their touches).
    """
    keys = _check_by(by)
    for name, td in (("lookback", lookback), ("half_life", half_life)):
        if not isinstance(td, timedelta) or td <= timedelta(0):
            raise InvalidParameterError(name, f"'{name}' must be a positive timedelta (got {td!r})")
    t = pd.DataFrame(
        {
            "person_id": touches["person_id"].astype(str),
            "timestamp": pd.to_datetime(touches["timestamp"], utc=True),
            "channel": _channel(touches, keys) if len(touches) else pd.Series([], dtype=object),
        }
    )
    c = pd.DataFrame(
        {
            "person_id": conversions["person_id"].astype(str),
            "timestamp": pd.to_datetime(conversions["timestamp"], utc=True),
            "cents": (conversions["revenue"].astype(float) * 100).round().astype("int64"),
        }
    ).sort_values(["timestamp", "person_id"], kind="stable")
    credits = rule_based_credits(t, c, lookback=lookback, half_life=half_life)
    total = int(c["cents"].sum())
    credits["markov"] = _markov_cents(t, c, list(credits["channel"]), total)
    for col in (*MODELS, "markov"):
        credits[col] = credits[col].astype("int64") / 100.0
    credits["conversions"] = credits["conversions"].astype("int64")
    return credits.sort_values(["linear", "channel"], ascending=[False, True], ignore_index=True)


def _markov_cents(t: pd.DataFrame, c: pd.DataFrame, channels: list[str], total: int) -> list[int]:
    first_conv = c.groupby("person_id")["timestamp"].min()
    paths = []
    for person, g in t.sort_values(["person_id", "timestamp", "channel"]).groupby("person_id", sort=False):
        cut = first_conv.get(person)
        seq = g["channel"].tolist() if cut is None else g.loc[g["timestamp"] <= cut, "channel"].tolist()
        paths.append((seq or [DIRECT], cut is not None))
    for _ in first_conv.index.difference(t["person_id"].unique()):
        paths.append(([DIRECT], True))
    effects, _ = markov_removal_effects(paths)
    weights = [max(effects.get(ch, 0.0), 0.0) for ch in channels]
    if total == 0 or sum(weights) <= 0:
        return [0] * len(channels)
    return apportion(total, weights)


def load_touches_and_conversions(
    source: Engine | Connection, start_date: Any, end_date: Any, *, lookback: timedelta = timedelta(days=30)
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Touches (one per session with a source, at its first sourced event) and revenue events, from SQL.

    Conversions are revenue events (``payment_succeeded``, ``subscription_renewed``; ``amount``) in
    ``[start, end)``; touches are read from ``start − lookback`` so early conversions see their touches. Touch
    rows are aggregated per session in SQL (``GROUP BY session_id``).
    """
    from analytics.identity import person_map
    from analytics.schema import analytics_events as ev
    from analytics.storage import check_period

    start, end = check_period(start_date, end_date)
    pm = person_map().subquery("pm")
    sess = (
        select(
            ev.c.session_id,
            func.min(ev.c.timestamp).label("timestamp"),
            func.min(ev.c.source).label("source"),
            func.min(ev.c.medium).label("medium"),
            func.min(ev.c.campaign).label("campaign"),
        )
        .where(
            ev.c.source.is_not(None),
            ev.c.event_type != "client_error",  # its "source" is the failing script, not traffic
            ev.c.timestamp >= start - lookback,
            ev.c.timestamp < end,
        )
        .group_by(ev.c.session_id)
        .subquery("sess")
    )
    touch_q = select(pm.c.person_id, sess.c.timestamp, sess.c.source, sess.c.medium, sess.c.campaign).join(
        pm, pm.c.session_id == sess.c.session_id
    )
    amount = ev.c.event_data["amount"].as_float().cast(Float)
    conv_q = (
        select(pm.c.person_id, ev.c.timestamp, amount.label("revenue"))
        .join(pm, pm.c.session_id == ev.c.session_id)
        .where(and_(ev.c.event_type.in_(REVENUE_EVENTS), ev.c.timestamp >= start, ev.c.timestamp < end))
    )

    def run(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
        touches = pd.DataFrame(conn.execute(touch_q).all(), columns=["person_id", "timestamp", *CHANNEL_KEYS])
        convs = pd.DataFrame(conn.execute(conv_q).all(), columns=["person_id", "timestamp", "revenue"])
        return touches, convs

    if isinstance(source, Engine):
        with source.connect() as conn:
            return run(conn)
    return run(source)
