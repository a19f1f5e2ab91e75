"""Dashboard tables on a hand-made data set (SQLite, and PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from analytics.dashboard import (
    AICalculatorDashboard,
    conversion_rates,
    conversions_by_demographics,
    geographic_distribution,
    popular_content,
    revenue_attribution,
)
from analytics.errors import InvalidParameterError
from analytics.events import validate_event
from analytics.funnel import calculator_funnel
from analytics.storage import write_events

START = datetime(2026, 3, 1)
END = datetime(2026, 3, 8)
Z = 1.959963984540054


def wilson(k, n):
    p = k / n
    centre, half = p + Z * Z / (2 * n), Z * (p * (1 - p) / n + Z * Z / (4 * n * n)) ** 0.5
    return (centre - half) / (1 + Z * Z / n), (centre + half) / (1 + Z * Z / n)


def e(event_type, session, hours, user=None, **data):
    raw = {
        "event_type": event_type,
        "session_id": session,
        "event_data": data,
        "timestamp": (START + timedelta(hours=hours)).isoformat() + "Z",
    }
    if user:
        raw["user_id"] = user
    return validate_event(raw, now=END + timedelta(days=30))


def assess(session, hours, risk, title="Nurse", industry="Health", country="US", region="CA", **extra):
    return e(
        "assessment_submitted",
        session,
        hours,
        job_title=title,
        industry=industry,
        risk_level=risk,
        country=country,
        region=region,
        **extra,
    )


def pay(session, hours, amount=49.99):
    return e("payment_succeeded", session, hours, plan="basic", amount=amount)


@pytest.fixture
def data(engine):
    events = [
        # high risk: a converts, b paid *before* assessing (not a conversion), c never pays
        e("ai_calculator_opened", "a", 0, source="google", device="mobile"),
        e("calculator_step_completed", "a", 0.1, step=1, seconds_on_step=5),
        assess("a", 0.2, "high", age_range="25-34"),
        e("conversion_offer_viewed", "a", 0.3, offer="basic"),
        e("paid_upgrade_clicked", "a", 0.4, plan="basic", price=49.99),
        pay("a", 0.5),
        pay("b", 1),
        assess(
            "b",
            2,
            "high",
            title="Teacher",
            industry="Education",
            country="GB",
            region="England",
            age_range="25-34",
        ),
        e("ai_calculator_opened", "c", 3, source="linkedin", device="desktop"),
        assess("c", 3.1, "high"),
        # low risk: d assesses twice (counts once, first assessment's attributes), pays 2 days later
        assess("d", 4, "low", title="Teacher", industry="Education", country="GB", region="Scotland"),
        assess("d", 5, "medium"),
        pay("d", 52, amount=99.99),
        # previous period: one Nurse assessment
        e("assessment_submitted", "old", -24, job_title="Nurse", industry="Health", risk_level="low"),
    ]
    write_events(engine, events)
    return engine


def test_conversion_by_risk_level_with_wilson_interval(data):
    t = conversion_rates(data, START, END).set_index("risk_level")
    assert t[["assessed", "converted"]].to_dict("index") == {
        "high": {"assessed": 3, "converted": 1},
        "low": {"assessed": 1, "converted": 1},
    }
    lo, hi = wilson(1, 3)
    assert t.loc["high", "ci_low"] == pytest.approx(lo, rel=1e-12)
    assert t.loc["high", "ci_high"] == pytest.approx(hi, rel=1e-12)
    assert t.loc["high", "conversion_rate"] == pytest.approx(1 / 3)


def test_conversion_by_demographics_marks_missing_values(data):
    t = conversions_by_demographics(data, START, END)
    age = t[t["dimension"] == "age_range"].set_index("value")
    assert age["assessed"].to_dict() == {"(not set)": 2, "25-34": 2}
    assert age["converted"].to_dict() == {"(not set)": 1, "25-34": 1}


def test_popular_content_mix_and_trend(data):
    t = popular_content(data, START, END).set_index("value")
    # assessments, not people: a, c and d's second assessment are Nurse
    assert t["assessments"].to_dict() == {"Nurse": 3, "Teacher": 2}
    assert (
        t.loc["Teacher", "low"] == 0.5 and t.loc["Teacher", "high"] == 0.5 and t.loc["Teacher", "medium"] == 0
    )
    assert t.loc["Nurse", "high"] == pytest.approx(2 / 3) and t.loc["Nurse", "share"] == pytest.approx(0.6)
    assert t.loc["Nurse", "previous"] == 1 and t.loc["Nurse", "change"] == 2.0
    assert t.loc["Teacher", "note"] == "no assessments in the previous period"
    with pytest.raises(
        InvalidParameterError, match=r"^'by' must be job_title or industry \(got 'country'\)$"
    ):
        popular_content(data, START, END, by="country")


def test_geography(data):
    t = geographic_distribution(data, START, END).set_index("country")
    assert t[["assessed", "converted"]].to_dict("index") == {
        "GB": {"assessed": 2, "converted": 1},
        "US": {"assessed": 2, "converted": 1},
    }
    assert t["share"].to_dict() == {"GB": 0.5, "US": 0.5}
    r = geographic_distribution(data, START, END, level="region")
    assert sorted(r["region"]) == ["CA", "England", "Scotland"]


def test_revenue_attribution_from_database(data):
    t = revenue_attribution(data, START, END).set_index("channel")
    # a's payment follows its google session; b's and d's payments have no sourced touch -> (direct)
    assert t["linear"].to_dict() == {"(direct)": 149.98, "google": 49.99}
    assert t["markov"].sum() == pytest.approx(199.97)


def test_calculator_funnel_by_source(data):
    t = calculator_funnel(data, START, END, breakdown="source").table
    google = t[t["breakdown"] == "google"]
    assert google["count"].tolist() == [1, 1, 1, 1, 1, 1]
    linkedin = t[t["breakdown"] == "linkedin"]
    assert linkedin["count"].tolist() == [1, 0, 0, 0, 0, 0]  # c submitted without completing step 1
    with pytest.raises(InvalidParameterError) as info:
        calculator_funnel(data, START, END, breakdown="age")
    assert str(info.value) == (
        "'breakdown' must be None or one of source, medium, campaign, device, country (got 'age')"
    )


def test_seed_object_returns_plain_data(data):
    dash = AICalculatorDashboard(data.url.render_as_string(hide_password=False))
    rows = dash.get_conversion_rates_by_risk_level(start_date=START, end_date=END)
    assert rows[0]["risk_level"] == "high" and rows[0]["assessed"] == 3 and type(rows[0]["assessed"]) is int
    funnel_rows = dash.get_calculator_funnel(start_date=START, end_date=END)
    assert [r["count"] for r in funnel_rows] == [2, 1, 1, 1, 1, 1]
    assert funnel_rows[0]["conversion_from_previous"] is None
    assert set(dash.get_popular_content(start_date=START, end_date=END)) == {"job_titles", "industries"}
    assert dash.get_geographic_distribution(start_date=START, end_date=END)[0]["assessed"] == 2
    assert dash.get_revenue_attribution(start_date=START, end_date=END)[0]["channel"] == "(direct)"
    assert len(dash.get_conversion_rates_by_demographics(start_date=START, end_date=END)) >= 4


def test_invalid_dimension(data):
    with pytest.raises(InvalidParameterError) as info:
        conversion_rates(data, START, END, by="shoe_size")
    assert str(info.value).startswith("'by' must be one or more of risk_level, age_range")
    assert str(info.value).endswith("(got 'shoe_size')")


def test_readings_are_plain_sentences(data):
    t = calculator_funnel(data, START, END).table
    from analytics.dashboard import conversion_reading, funnel_reading

    assert funnel_reading(t) == (
        "1 of 2 people (50.0%) went from the first to the last step; the largest drop-off "
        "is at 'Step 1 completed', where 50.0% of those reaching the previous step stop."
    )
    conv = conversion_rates(data, START, END)
    assert conversion_reading(conv, "risk_level") == (
        "Highest conversion: risk_level = low at 100.0% (1/1); lowest: high at 33.3% (1/3). "
        "The 95 % intervals overlap, so the difference may be noise."
    )


@pytest.mark.parametrize("name", ["funnel", "conversions"])
def test_notebooks_run_under_papermill(sqlite_engine, tmp_path, name):
    import json
    from pathlib import Path

    from analytics.demo import generate, insert_demo
    from analytics.notebook_runner import run_notebook

    with sqlite_engine.begin() as conn:
        insert_demo(conn, generate(days=30, sessions=400, seed=3, end=datetime(2026, 11, 23)))
    url = sqlite_engine.url.render_as_string(hide_password=False)
    nb = Path(__file__).resolve().parents[1] / "notebooks" / f"{name}.ipynb"
    source = json.loads(nb.read_text())
    assert all(not c.get("outputs") for c in source["cells"] if c["cell_type"] == "code")
    assert any("parameters" in c["metadata"].get("tags", []) for c in source["cells"])
    run = run_notebook(
        nb, tmp_path, {"database_url": url, "start_date": "2026-10-24", "end_date": "2026-11-23"}
    )
    assert run.error is None
    html = run.html_path.read_text()
    assert "plotly" in html and "def " not in "".join("".join(c["source"]) for c in source["cells"])
