"""The ``analytics`` command line on a temporary database."""

import pytest

from analytics.cli import main, notebooks_in
from analytics.db import PROJECT_ROOT, dispose_engines


@pytest.fixture
def tmp_db(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    yield
    dispose_engines()


def test_db_upgrade_and_maintain(tmp_db, capsys):
    assert main(["db", "upgrade"]) == 0
    assert "schema up to date" in capsys.readouterr().out
    assert main(["db", "maintain"]) == 0
    assert capsys.readouterr().out == "partitions created: none needed\n"


def test_demo_data_is_loaded_once(tmp_db, capsys):
    assert main(["demo-data", "--days", "3", "--sessions", "50", "--seed", "2"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("loaded ") and " demo events (" in first
    assert main(["demo-data", "--days", "3", "--sessions", "50", "--seed", "2"]) == 0
    assert "demo data already present" in capsys.readouterr().out


def test_alerts_check_with_no_data(tmp_db, capsys):
    assert main(["alerts", "check"]) == 0
    assert capsys.readouterr().out.endswith("0 notification(s)\n")


def test_bad_arguments_exit_2(tmp_db, capsys):
    assert main(["demo-data", "--sessions", "0"]) == 2
    assert capsys.readouterr().err == "error: 'sessions' must be at least 1 (got 0)\n"


def test_demo_runs_every_notebook():
    names = [p.name for p in notebooks_in(PROJECT_ROOT / "notebooks")]
    assert "overview.ipynb" in names and names == sorted(names)
