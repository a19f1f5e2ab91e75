"""The five BI notebooks: clean and parameterised, and each runs under papermill on the demo data with every chart
in its HTML report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.ltv import cdnow_dir
from analytics.notebook_runner import run_notebook

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_HOLDOUT = 1 if (cdnow_dir() / "CDNOW_sample.txt").exists() else 0
#: notebook -> number of plotly charts its report must show
CHARTS = {
    "cohorts": 5,  # retention in k, k or later, paying share, cumulative revenue curves, revenue per user bars
    "ltv": 2 + _HOLDOUT,  # segment bars, subscription survival curves (+ CDNOW holdout check)
    "market_intelligence": 1,
    "lead_sources": 1,
    "weekly_report": 1,
}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_notebook_is_clean_and_parameterised(name: str) -> None:
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
    params = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    assert "database_url = None" in "".join(params[0]["source"])
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            assert cell["outputs"] == [] and cell["execution_count"] is None
            assert "def " not in src and "class " not in src
    assert any('pio.renderers.default = "notebook+plotly_mimetype"' in "".join(c["source"]) for c in nb["cells"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHARTS))
def test_notebook_runs_on_demo_data(name: str, demo_engine, tmp_path) -> None:  # noqa: ANN001
    url = demo_engine.url.render_as_string(hide_password=False)
    run = run_notebook(NOTEBOOKS / f"{name}.ipynb", tmp_path, {"database_url": url})
    assert run.ok, run.error
    html = run.html_path.read_text()
    assert html.count('class="plotly-graph-div"') == CHARTS[name]
