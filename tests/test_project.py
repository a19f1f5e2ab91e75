"""Project hygiene: environment.yml agrees with pyproject.toml, notebooks are clean, ruff passes, layers hold."""

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("**/*.ipynb"))


def test_environment_yml_agrees_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = env["dependencies"]
    assert "python=3.11" in deps
    assert project["requires-python"] == ">=3.11,<3.12"
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    # The conda environment installs the project itself with its dev extra: the pins live in one place.
    assert pip == ["-e .[dev,ga4]"]
    assert {"dev", "ga4"} <= set(project["optional-dependencies"])
    for dep in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert "==" in dep, f"dependency {dep!r} is not pinned"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{path.name} has outputs"
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), f"{path.name}: no parameters cell"
    for c in code:
        tree = ast.parse("\n".join(line for line in "".join(c["source"]).splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
        assert not defs, f"{path.name} defines {[d.name for d in defs]}: put logic in the analytics package"


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), a.name.split(".")[0]) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
    return found


@pytest.mark.parametrize(
    "folder,forbidden",
    [("analytics", {"notebooks", "ingest_service", "scheduled"}),
     ("ingest_service", {"scheduled", "notebooks"}),
     ("scheduled", {"ingest_service", "notebooks"})],
)
def test_layers(folder, forbidden):
    bad = sorted((f, m) for f, m in _imports(folder) if m in forbidden)
    assert not bad, f"{folder} must not import {forbidden}: {bad}"


def test_py_typed_and_all():
    import analytics

    assert (ROOT / "analytics" / "py.typed").exists()
    for name in analytics.__all__:
        assert getattr(analytics, name, None) is not None or name.startswith("ai_calculator_"), name
