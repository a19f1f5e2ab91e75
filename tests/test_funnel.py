"""Funnel rules 1–10 of analytics-semantics.md, one test per rule, expected counts worked out by hand.

Every case is run twice: through the fast pass + exact evaluator (the default) and through the exact evaluator
alone, so the fast pass is checked against the reference on each hand-made case.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.errors import InvalidParameterError
from analytics.funnel import funnel
from analytics.funnel._frame import frame_outcomes
from analytics.funnel._result import build_result
from analytics.funnel._spec import build_spec

T0 = pd.Timestamp("2026-01-05 12:00:00", tz="UTC")
DAY = 86400


def ev(rows):
    """rows: (person, event, seconds after T0[, properties])."""
    return pd.DataFrame(
        {
            "person_id": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "timestamp": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
            "properties": [r[3] if len(r) > 3 else {} for r in rows],
        }
    )


def run(rows, steps, **kw):
    """Run the public path and the exact-only path; they must agree; return the public result."""
    res = funnel(ev(rows), steps, **kw)
    spec = build_spec(
        steps, **{k: v for k, v in kw.items() if k in ("window", "order", "exclusions", "breakdown")}
    )
    ref = build_result(frame_outcomes(ev(rows), spec, exact_only=True), spec)
    pd.testing.assert_frame_equal(res.table, ref.table)
    return res


def counts(res):
    return res.table["count"].tolist()


def test_rule1_every_entry_starts_an_attempt():
    # p1: A at 0 (no B within 1 day); A again at day 10, B one hour later -> second attempt converts.
    rows = [("p1", "A", 0), ("p1", "A", 10 * DAY), ("p1", "B", 10 * DAY + 3600), ("p2", "A", 0)]
    res = run(rows, ["A", "B"], window=timedelta(days=1))
    assert counts(res) == [2, 1]
    assert res.table["median_time_to_convert_s"].iloc[1] == 3600.0


def test_rule2_ordered_inclusive_window_edge_and_events_between():
    rows = [
        ("edge", "A", 0),
        ("edge", "B", 300),  # exactly at the edge: converts
        ("late", "A", 0),
        ("late", "B", 301),  # one second late: does not
        ("between", "A", 0),
        ("between", "X", 10),
        ("between", "B", 20),  # other events in between are fine
        ("before", "B", 0),
        ("before", "A", 10),  # B before A does not count
    ]
    res = run(rows, ["A", "B"], window=300)
    assert counts(res) == [4, 2]
    assert res.people(1) == ["between", "edge"]
    assert res.people(1, dropped=True) == ["before", "late"]


def test_rule2_earliest_of_the_furthest_paths():
    # B at 10 and 20, C at 30: the earliest path is A0 -> B10 -> C30 (10 s, then 20 s).
    rows = [("p", "A", 0), ("p", "B", 10), ("p", "B", 20), ("p", "C", 30)]
    res = run(rows, ["A", "B", "C"])
    assert counts(res) == [1, 1, 1]
    assert res.table["mean_time_to_convert_s"].tolist()[1:] == [10.0, 20.0]


def test_rule3_strict_needs_the_very_next_event():
    rows = [
        ("direct", "A", 0),
        ("direct", "B", 5),
        ("gap", "A", 0),
        ("gap", "X", 2),
        ("gap", "B", 5),  # X between: fails
        ("tie", "A", 0),
        ("tie", "X", 0),
        ("tie", "B", 5),  # X at the same instant is not "after" A
        ("late", "A", 0),
        ("late", "B", 100),  # next event outside the 60 s window
    ]
    res = run(rows, ["A", "B"], order="strict", window=60)
    assert counts(res) == [4, 2]
    assert res.people(1) == ["direct", "tie"]


def test_rule4_unordered_distinct_steps_in_window():
    rows = [
        ("all", "C", 0),
        ("all", "A", 10),
        ("all", "B", 30),  # 3 steps; times by first occurrence: 10 s, 20 s
        ("two", "B", 0),
        ("two", "A", 100),
        ("apart", "B", 0),
        ("apart", "A", 2 * DAY),  # never two steps inside one window
    ]
    res = run(rows, ["A", "B", "C"], order="unordered", window=timedelta(days=1))
    assert counts(res) == [3, 2, 1]
    assert res.table["median_time_to_convert_s"].tolist()[1:] == [55.0, 20.0]  # median(10, 100); 20


def test_rule5_best_attempt_most_steps_then_earliest_entry():
    rows = [
        # p1: attempt 1 reaches B (2 steps), attempt 2 (day 5) reaches C: attempt 2 counts, B after 50 s.
        ("p1", "A", 0),
        ("p1", "B", 100),
        ("p1", "A", 5 * DAY),
        ("p1", "B", 5 * DAY + 50),
        ("p1", "C", 5 * DAY + 60),
        # p2: two attempts both reach B: the earliest entry counts (B after 100 s, not 10 s).
        ("p2", "A", 0),
        ("p2", "B", 100),
        ("p2", "A", 3 * DAY),
        ("p2", "B", 3 * DAY + 10),
    ]
    res = run(rows, ["A", "B", "C"], window=timedelta(days=1))
    assert counts(res) == [2, 2, 1]
    assert res.table["mean_time_to_convert_s"].tolist()[1:] == [75.0, 10.0]


def test_rule6_same_timestamp_and_duplicates():
    rows = [
        ("same", "A", 0),
        ("same", "B", 0),  # B at the same instant never advances A
        ("dup", "A", 0),
        ("dup", "A", 0),
        ("dup", "B", 7),
        ("dup", "B", 7),  # duplicates count once
    ]
    res = run(rows, ["A", "B"])
    assert counts(res) == [2, 1]
    assert res.people(1) == ["dup"]
    assert res.table["mean_time_to_convert_s"].iloc[1] == 7.0


def test_rule7_one_event_fills_one_step():
    rows = [
        ("once", "A", 0),
        ("twin", "A", 0),
        ("twin", "A", 0),  # two A at the same instant: still one step
        ("twice", "A", 0),
        ("twice", "A", 5),
    ]
    assert counts(run(rows, ["A", "A"])) == [3, 1]
    assert counts(run(rows, ["A", "A"], order="unordered")) == [3, 2]  # unordered: same instant allowed


def test_rule8_exclusions():
    rows = [
        ("x_between", "A", 0),
        ("x_between", "X", 5),
        ("x_between", "B", 10),
        ("x_between", "C", 20),
        ("x_after_b", "A", 0),
        ("x_after_b", "B", 10),
        ("x_after_b", "X", 15),
        ("x_after_b", "C", 20),
        ("x_no_b", "A", 0),
        ("x_no_b", "X", 50),  # never reached B: bound is entry + window, inclusive
        ("x_edge", "A", 0),
        ("x_edge", "X", 100),  # exactly at entry + window: excluded
        ("x_out", "A", 0),
        ("x_out", "X", 101),  # after the window: kept
        ("x_same", "A", 0),
        ("x_same", "X", 0),  # not strictly after A: kept
        ("retry", "A", 0),
        ("retry", "X", 5),
        ("retry", "A", 1000),
        ("retry", "B", 1010),  # 2nd attempt survives
    ]
    res = run(rows, ["A", "B", "C"], window=100, exclusions=[("X", 0, 1)])
    assert counts(res) == [4, 2, 1]
    assert res.people(0) == ["retry", "x_after_b", "x_out", "x_same"]
    assert res.table["mean_time_to_convert_s"].iloc[1] == 10.0


@pytest.mark.parametrize(
    ("exclusion", "order", "message"),
    [
        (
            ("X", 1, 1),
            "ordered",
            "'exclusions[0]' needs 0 <= from_step < to_step <= 2 (the last step) "
            "(got from_step=1, to_step=1)",
        ),
        (
            ("X", 0, 3),
            "ordered",
            "'exclusions[0]' needs 0 <= from_step < to_step <= 2 (the last step) "
            "(got from_step=0, to_step=3)",
        ),
        (
            ("X", -1, 1),
            "ordered",
            "'exclusions[0]' needs 0 <= from_step < to_step <= 2 (the last step) "
            "(got from_step=-1, to_step=1)",
        ),
        (
            ("X", 0, 1),
            "unordered",
            "'exclusions[0]' in an unordered funnel must span the whole funnel, "
            "from_step=0 and to_step=2 (got from_step=0, to_step=1)",
        ),
        (("X", 0), "ordered", "'exclusions[0]' must be an (event, from_step, to_step) triple (got ('X', 0))"),
    ],
)
def test_rule8_invalid_exclusions(exclusion, order, message):
    with pytest.raises(InvalidParameterError) as info:
        funnel(ev([("p", "A", 0)]), ["A", "B", "C"], order=order, exclusions=[exclusion])
    assert str(info.value) == message
    assert info.value.name == "exclusions[0]"


def test_rule8_unordered_full_range_exclusion():
    rows = [("p", "B", 0), ("p", "X", 5), ("p", "A", 10), ("q", "A", 0), ("q", "B", 10), ("q", "X", 20)]
    res = run(rows, ["A", "B"], order="unordered", exclusions=[("X", 0, 1)])
    # p: the attempt anchored at B (0 s) has X between B and A -> discarded; the attempt anchored at A (10 s)
    # completes one step and X (5 s) is not after it -> p stays at step 0 only.
    assert counts(res) == [2, 1]
    assert res.people(1) == ["q"]
    assert res.people(1, dropped=True) == ["p"]


def test_rule9_breakdown_on_entry_of_best_attempt():
    rows = [
        ("p1", "A", 0, {"source": "ads"}),
        ("p1", "A", 5 * DAY, {"source": "mail"}),
        ("p1", "B", 5 * DAY + 1),
        ("p2", "A", 0, {"source": "ads"}),
        ("p2", "B", 1),
        ("p3", "A", 0),  # no source -> ""
        ("p4", "A", 0, {"source": "mail"}),
    ]
    res = run(rows, ["A", "B"], window=timedelta(days=1), breakdown="source")
    t = res.table
    assert t[["breakdown", "step", "count"]].values.tolist() == [
        ["mail", 0, 2],
        ["mail", 1, 1],
        ["", 0, 1],
        ["", 1, 0],
        ["ads", 0, 1],
        ["ads", 1, 1],
    ]
    assert res.people(1, breakdown="mail") == ["p1"]
    assert t["note"].iloc[3] == "nobody reached this step"


def test_rule9_settled_by_the_fast_pass_despite_mixed_entry_values():
    # p1 completes from its first entry (ads): the best attempt is the first, whatever the later entry (mail)
    # carries. Same-instant entries (p2: mail and ads at 0) give the smallest value, "ads".
    rows = [
        ("p1", "A", 0, {"source": "ads"}),
        ("p1", "B", 10),
        ("p1", "A", 100, {"source": "mail"}),
        ("p2", "A", 0, {"source": "mail"}),
        ("p2", "A", 0, {"source": "ads"}),
    ]
    res = run(rows, ["A", "B"], window=timedelta(days=1), breakdown="source")
    assert res.table[["breakdown", "step", "count"]].values.tolist() == [["ads", 0, 2], ["ads", 1, 1]]
    assert res.people(0, breakdown="ads") == ["p1", "p2"]


def test_rule10_time_to_convert_median_and_mean():
    rows = [(p, "A", 0) for p in "abcd"] + [("a", "B", 10), ("b", "B", 20), ("c", "B", 30), ("d", "B", 100)]
    res = run(rows, ["A", "B"])
    assert res.table["median_time_to_convert_s"].iloc[1] == 25.0  # (20 + 30) / 2
    assert res.table["mean_time_to_convert_s"].iloc[1] == 40.0
    assert res.table["conversion_from_previous"].iloc[1] == 1.0


def test_table_conversions_and_wilson_interval():
    rows = [(f"p{i}", "A", 0) for i in range(10)] + [(f"p{i}", "B", 5) for i in range(3)]
    t = run(rows, ["A", "B"]).table
    assert t["drop_off"].tolist() == [0, 7]
    assert t["conversion_from_first"].iloc[1] == pytest.approx(0.3)
    # Wilson 95 %: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n), p = 0.3, n = 10, z = 1.959964
    z, n, p = 1.959963984540054, 10, 0.3
    centre, half = p + z * z / (2 * n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert t["ci_low"].iloc[1] == pytest.approx((centre - half) / (1 + z * z / n), rel=1e-12)
    assert t["ci_high"].iloc[1] == pytest.approx((centre + half) / (1 + z * z / n), rel=1e-12)


def test_property_filters_are_typed():
    rows = [("p", "S", 0, {"step": 1}), ("p", "S", 10, {"step": 2}), ("q", "S", 0, {"step": "1"})]
    res = run(rows, [("S", {"step": 1}), ("S", {"step": 2})])
    assert counts(res) == [1, 1]
    assert res.table["step_name"].tolist() == ["S (step=1)", "S (step=2)"]


def test_invalid_parameters():
    with pytest.raises(
        InvalidParameterError,
        match=r"^'order' must be one of ordered, strict, unordered "
        r"\(got 'sideways'\)$",
    ):
        funnel(ev([("p", "A", 0)]), ["A"], order="sideways")
    with pytest.raises(InvalidParameterError, match=r"^'window' must be positive \(got 0\)$"):
        funnel(ev([("p", "A", 0)]), ["A"], window=0)
    with pytest.raises(
        InvalidParameterError, match=r"^'steps' must be a non-empty list of steps \(got \[\]\)$"
    ):
        funnel(ev([("p", "A", 0)]), [])
    with pytest.raises(InvalidParameterError) as info:
        funnel(pd.DataFrame({"person_id": [], "event": []}), ["A"])
    assert str(info.value) == (
        "'events' must have columns person_id, event, timestamp, properties "
        "(got person_id, event; missing timestamp, properties)"
    )
    with pytest.raises(InvalidParameterError, match=r"^'step' must be an integer in \[1, 1\] \(got 0\)$"):
        funnel(ev([("p", "A", 0)]), ["A", "B"]).people(0, dropped=True)


def test_empty_funnel_explains_itself():
    t = funnel(ev([("p", "X", 0)]), ["A", "B"]).table
    assert t["count"].tolist() == [0, 0]
    assert t["note"].tolist() == ["nobody entered the funnel", "nobody entered the funnel"]


@pytest.mark.parametrize("order", ["ordered", "strict", "unordered"])
@pytest.mark.parametrize("exclusions", [(), (("X", 0, 2),)])
def test_fast_pass_equals_exact_evaluator_on_random_histories(order, exclusions):
    rng = np.random.default_rng(7)
    n = 3000
    rows = [
        (
            f"p{rng.integers(300)}",
            str(rng.choice(["A", "B", "C", "X"], p=[0.35, 0.3, 0.25, 0.1])),
            int(rng.integers(0, 4 * DAY)),
            {"source": str(rng.choice(["ads", "mail"]))},
        )
        for _ in range(n)
    ]
    run(
        rows,
        ["A", "B", "C"],
        window=timedelta(days=1),
        order=order,
        exclusions=exclusions,
        breakdown="source",
    )
    run(rows, ["A", "B", "A"], window=timedelta(hours=6), order=order, exclusions=exclusions)
