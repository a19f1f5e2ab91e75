"""Execute a parameterised notebook with papermill and convert it to HTML without code cells.

The executed notebook is the record of a run: it is written to ``output_dir`` before any failure is raised,
and a failing notebook still gets its HTML (with the error cell's traceback visible).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics.errors import AnalyticsError, InvalidParameterError, NotFoundError

__all__ = ["KERNEL_NAME", "NotebookFailedError", "NotebookRun", "notebook_to_html", "run_notebook"]

#: The project's kernel, registered into ``.venv`` by ``make`` (``python -m ipykernel install --sys-prefix``).
KERNEL_NAME = "ai-calculator-analytics"


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one execution: the executed notebook, its HTML, the wall time, the error (if any)."""

    source: Path
    notebook_path: Path
    html_path: Path | None
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every cell ran without raising."""
        return self.error is None


class NotebookFailedError(AnalyticsError):
    """A notebook raised; ``run`` holds the executed record and its HTML (both written)."""

    def __init__(self, run: NotebookRun) -> None:
        self.run = run
        super().__init__(f"notebook {run.source.name} failed: {run.error}")


def notebook_to_html(notebook_path: str | Path, html_path: str | Path | None = None) -> Path:
    """Convert an executed notebook to a standalone HTML report without input (code) cells."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook_path = Path(notebook_path)
    html_path = Path(html_path) if html_path is not None else notebook_path.with_suffix(".html")
    nb = nbformat.read(notebook_path, as_version=4)
    body, _ = HTMLExporter(exclude_input=True).from_notebook_node(
        nb, resources={"metadata": {"name": notebook_path.stem}}
    )
    html_path.write_text(body, encoding="utf-8")
    return html_path


def run_notebook(
    source: str | Path,
    output_dir: str | Path,
    parameters: dict[str, Any] | None = None,
    *,
    kernel_name: str = KERNEL_NAME,
    execution_timeout: float | None = None,
) -> NotebookRun:
    """Execute ``source`` into ``output_dir/<name>.ipynb`` and ``output_dir/<name>.html``.

    Parameters
    ----------
    source:
        The notebook; never modified.
    output_dir:
        Where the executed notebook and the HTML go (created if missing).
    parameters:
        Injected by papermill after the cell tagged ``parameters``.
    kernel_name:
        Jupyter kernel to run in (default: the project's kernel).
    execution_timeout:
        Seconds a single cell may run (``None``: unlimited).

    Raises
    ------
    NotFoundError
        When ``source`` does not exist.
    NotebookFailedError
        When a cell raised; the executed notebook and its HTML are written first.
    """
    import papermill as pm

    source = Path(source)
    if not source.is_file():
        raise NotFoundError("notebook", str(source))
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    notebook_path = output_dir / f"{source.stem}.ipynb"
    if notebook_path.resolve() == source.resolve():
        raise InvalidParameterError(
            "output_dir", f"'output_dir' must not be the notebook's own directory (got {str(output_dir)!r})"
        )
    started = time.perf_counter()
    error: str | None = None
    try:
        pm.execute_notebook(
            str(source),
            str(notebook_path),
            parameters=dict(parameters or {}),
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=False,
            execution_timeout=execution_timeout,
            cwd=str(source.parent),
        )
    except pm.PapermillExecutionError as exc:
        error = f"{exc.ename}: {exc.evalue}"
    html_path = notebook_to_html(notebook_path) if notebook_path.exists() else None
    run = NotebookRun(source, notebook_path, html_path, time.perf_counter() - started, error)
    if error is not None:
        raise NotebookFailedError(run)
    return run
