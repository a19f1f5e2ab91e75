"""What the e-mail body shows of one executed notebook: title, KPI blocks, tables, figures, the error.

Conventions for notebook authors (documented in ``docs/reports.md``):

- the first Markdown heading is the section title;
- the outputs of cells tagged ``kpis`` go into the "Key figures" summary at the top of the e-mail;
- the outputs of cells tagged ``email`` are shown in the notebook's section; when a notebook tags no cell
  ``email``, its first three HTML tables are shown instead;
- every plotly figure (``application/vnd.plotly.v1+json``, present when the notebook sets the
  ``notebook+plotly_mimetype`` renderer) becomes a static image.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

__all__ = ["NotebookDigest", "digest_notebook"]

PLOTLY_MIME = "application/vnd.plotly.v1+json"
_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MAX_BLOCK = 200_000


@dataclass
class NotebookDigest:
    """The mail-friendly content of one executed notebook."""

    name: str
    title: str
    kpi_html: list[str] = field(default_factory=list)
    table_html: list[str] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    lost_figures: int = 0


def _clean(markup: str) -> str:
    return _SCRIPT.sub("", markup)


def _output_html(output: dict[str, Any]) -> str | None:
    data = output.get("data") or {}
    if output.get("output_type") == "stream":
        return f"<pre>{html.escape(str(output.get('text', '')))}</pre>"
    if "text/html" in data and PLOTLY_MIME not in data:
        markup = _clean(str(data["text/html"]))
        return markup if len(markup) <= _MAX_BLOCK else None
    if "text/markdown" in data:
        return f"<pre>{html.escape(str(data['text/markdown']))}</pre>"
    if "text/plain" in data and PLOTLY_MIME not in data:
        return f"<pre>{html.escape(str(data['text/plain']))}</pre>"
    return None


def _title(nb: Any, default: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def digest_notebook(path: str | Path) -> NotebookDigest:
    """Read an executed notebook and pick what the e-mail shows (see the module docstring)."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    digest = NotebookDigest(name=path.stem, title=_title(nb, path.stem.replace("_", " ").title()))
    tagged_email = any("email" in (c.metadata.get("tags") or []) for c in nb.cells)
    untagged_tables: list[str] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = set(cell.metadata.get("tags") or [])
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if output.get("output_type") == "error":
                trace = _ANSI.sub("", "\n".join(output.get("traceback") or []))
                digest.error = f"{output.get('ename')}: {output.get('evalue')}"
                digest.table_html.append(f'<pre class="error">{html.escape(trace[-4000:])}</pre>')
                continue
            if PLOTLY_MIME in data:
                digest.figures.append(dict(data[PLOTLY_MIME]))
                continue
            if str(data.get("text/plain", "")).startswith("Figure({"):
                digest.lost_figures += 1  # a figure displayed without a renderer that nbconvert can show
            block = _output_html(output)
            if block is None:
                continue
            if "kpis" in tags:
                digest.kpi_html.append(block)
            elif "email" in tags:
                digest.table_html.append(block)
            elif not tagged_email and "<table" in block and len(untagged_tables) < 3:
                untagged_tables.append(block)
    if not tagged_email:
        digest.table_html = untagged_tables + digest.table_html
    return digest
