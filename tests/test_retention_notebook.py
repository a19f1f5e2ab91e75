"""The retention notebook: a dry run counts and deletes nothing; applied, it deletes exactly what it counted."""

import shutil
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from analytics.db import PROJECT_ROOT, _build_engine, upgrade
from analytics.events import validate_event
from analytics.notebook_runner import run_notebook
from analytics.privacy import purge_older_than
from analytics.schema import analytics_events
from analytics.storage import write_events

NOW = datetime.utcnow()


def _count(engine):
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(analytics_events)).scalar_one()


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'retention.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    events = []
    for i, age in enumerate((500, 400, 100, 1)):  # days old: two beyond 395 days, two within
        ts = (NOW - timedelta(days=age)).isoformat()
        events.append(validate_event({"event_type": "ai_calculator_opened", "session_id": f"s{i}",
                                      "event_id": f"r{i}", "timestamp": ts}, now=NOW))
    write_events(engine, events)
    yield url, engine
    engine.dispose()


def test_dry_run_counts_without_deleting(db):
    _url, engine = db
    result = purge_older_than(engine, 395, dry_run=True)
    assert result.deleted == {"analytics_events": 2, "event_keys": 2, "assessments": 0, "sessions": 2}
    assert result.batches == 0
    assert _count(engine) == 4


@pytest.mark.slow
def test_notebook_dry_run_then_apply(db, tmp_path):
    url, engine = db
    source = tmp_path / "retention.ipynb"
    shutil.copy(PROJECT_ROOT / "notebooks" / "retention.ipynb", source)
    run = run_notebook(source, tmp_path / "dry", {"database_url": url})
    assert run.ok and "would be deleted (dry run)" in run.html_path.read_text()
    assert _count(engine) == 4
    run = run_notebook(source, tmp_path / "apply", {"database_url": url, "apply": True})
    assert run.ok and "rows deleted;" in run.html_path.read_text()
    assert _count(engine) == 2
