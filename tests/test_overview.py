"""The overview computations (hand-checked counts) and the overview notebook under papermill."""

import json
from datetime import datetime

import pytest

from analytics import overview
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.period import Period, resolve_period
from analytics.storage import write_events

NOW = datetime(2026, 11, 30)


def _e(i, kind, session, ts, **data):
    return validate_event({"event_type": kind, "session_id": session, "event_id": f"e{i}", "timestamp": ts,
                           "event_data": data}, now=NOW)


@pytest.fixture
def filled(engine):
    write_events(engine, [
        _e(1, "ai_calculator_opened", "a", "2026-11-20T10:00:00", source="google", medium="cpc"),
        _e(2, "ai_calculator_opened", "b", "2026-11-20T23:59:59", source="google", medium="cpc"),
        _e(3, "ai_calculator_opened", "c", "2026-11-21T00:00:00", source="newsletter", medium="email"),
        _e(4, "ai_calculator_opened", "d", "2026-11-21T08:00:00"),
        _e(5, "page_load_timing", "a", "2026-11-20T10:00:01", load_time_ms=800.0),
        _e(6, "ai_calculator_opened", "z", "2026-11-22T00:00:00", source="google", medium="cpc"),
    ])
    return engine


def test_events_per_day(filled):
    df = overview.events_per_day(filled, datetime(2026, 11, 20), datetime(2026, 11, 22))
    assert [(d.strftime("%Y-%m-%d"), t, n) for d, t, n in df.itertuples(index=False)] == [
        ("2026-11-20", "ai_calculator_opened", 2),
        ("2026-11-20", "page_load_timing", 1),
        ("2026-11-21", "ai_calculator_opened", 2),
    ]


def test_sessions_by_source(filled):
    df = overview.sessions_by_source(filled, datetime(2026, 11, 20), datetime(2026, 11, 22))
    assert df[["source", "medium", "sessions"]].values.tolist() == [
        ["google", "cpc", 2], ["(unknown)", "(unknown)", 1], ["newsletter", "email", 1]]
    assert df["share"].tolist() == [0.5, 0.25, 0.25]


def test_resolve_period_defaults(filled):
    p = resolve_period(filled, None, None, default_days=7)
    assert p == Period(datetime(2026, 11, 16), datetime(2026, 11, 23))
    assert p.previous() == Period(datetime(2026, 11, 9), datetime(2026, 11, 16))
    with pytest.raises(InvalidParameterError):
        resolve_period(filled, "2026-11-10", "2026-11-01")


def test_figures_have_data(filled):
    daily = overview.events_per_day(filled, datetime(2026, 11, 20), datetime(2026, 11, 22))
    fig = overview.events_per_day_figure(daily)
    assert sum(len(t.x) for t in fig.data) == 3
    fig = overview.sessions_by_source_figure(overview.sessions_by_source(filled, datetime(2026, 11, 20),
                                                                         datetime(2026, 11, 22)))
    assert list(fig.data[0].x) == [1, 1, 2]


def test_notebook_runs_under_papermill(demo_engine, tmp_path):
    from analytics.db import PROJECT_ROOT
    from analytics.notebook_runner import run_notebook

    url = demo_engine.url.render_as_string(hide_password=False)
    run = run_notebook(PROJECT_ROOT / "notebooks" / "overview.ipynb", tmp_path, {"database_url": url})
    assert run.ok
    html = run.html_path.read_text()
    assert "Events per day by type" in html and "Sessions by source" in html
    assert html.count('class="plotly-graph-div"') == 2  # both charts really are in the report
    assert "from analytics import overview" not in html  # no code cells
    executed = json.loads(run.notebook_path.read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in executed["cells"])
