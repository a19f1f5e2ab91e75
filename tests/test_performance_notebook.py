"""notebooks/performance.ipynb runs end to end with papermill on demo data and shows the alerts sent."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from analytics.alerts import AlertRule, Dispatcher, Notification
from analytics.db import _build_engine, upgrade

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "performance.ipynb"


class _Recorder:
    name = "slack"

    def payload(self, n):
        return {"text": n.summary}

    def send(self, n):
        return self.payload(n)


def test_notebook_is_clean_and_parameterised():
    nb = json.loads(NOTEBOOK.read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    source = "".join(params[0]["source"])
    for name in ("database_url = None", "start_date = None", "end_date = None"):
        assert name in source
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert "def " not in "".join(cell["source"]) and "class " not in "".join(cell["source"])
    assert any('pio.renderers.default = "notebook+plotly_mimetype"' in "".join(c["source"]) for c in nb["cells"])


@pytest.mark.slow
def test_notebook_runs_on_demo_data(tmp_path):
    from analytics.demo import load_demo
    from analytics.notebook_runner import run_notebook

    url = f"sqlite:///{tmp_path / 'perf.db'}"
    engine = _build_engine(url)
    upgrade(engine)
    load_demo(engine, days=7, sessions=400, seed=5, end=datetime(2026, 11, 23))
    rule = AlertRule("calculator_load_slow", "calculator_load_p95_ms", 3000, 2500, channels=("slack",))
    Dispatcher({"slack": _Recorder()}, engine=engine, clock=lambda: datetime(2026, 11, 20, 8)).dispatch(
        [Notification(rule, "firing", 3400.0, datetime(2026, 11, 20, 8), datetime(2026, 11, 20, 8))])
    engine.dispose()
    run = run_notebook(NOTEBOOK, tmp_path / "out", {"database_url": url, "start_date": "2026-11-16",
                                                    "end_date": "2026-11-23"})
    assert run.error is None
    executed = json.loads(run.notebook_path.read_text())
    text = json.dumps(executed["cells"])
    assert "Period: 2026-11-16 00:00 to 2026-11-23 00:00 UTC" in text
    assert "page load p95" in text and "calculator_load_slow" in text
    assert run.html_path.exists()
