"""notebooks/experiments.ipynb is clean, parameterised, and runs end to end on the demo data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "experiments.ipynb"


def test_notebook_is_clean_and_parameterised():
    nb = json.loads(NOTEBOOK.read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    source = "".join(params[0]["source"])
    for name in ("database_url = None", "test_id = None", "end_date = None", "alpha = 0.05"):
        assert name in source
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert "def " not in "".join(cell["source"]) and "class " not in "".join(cell["source"])
    assert any('pio.renderers.default = "notebook+plotly_mimetype"' in "".join(c["source"]) for c in nb["cells"])
    headings = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert "Sample ratio check" in headings[1]  # SRM comes first


@pytest.mark.slow
def test_notebook_runs_on_demo_data(demo_engine, tmp_path):
    from analytics.notebook_runner import run_notebook

    url = demo_engine.url.render_as_string(hide_password=False)
    run = run_notebook(NOTEBOOK, tmp_path / "out", {"database_url": url, "end_date": "2026-11-23"})
    assert run.error is None
    text = json.dumps(json.loads(run.notebook_path.read_text())["cells"])
    assert "4 test(s): demo-pricing-offers, demo-risk-algorithm, demo-personalization, demo-urgency-messaging" in text
    assert "All tests pass the sample ratio check." in text
    assert "keep running" in text or "ship" in text
