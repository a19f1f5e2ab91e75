"""The interactive attachment: one HTML report for the whole run, zipped.

Each executed notebook carries plotly.js (≈4.8 MB) once, in the output where its renderer was set up.
Merging the notebooks of a run into one document and dropping the repeated copies leaves plotly.js exactly
once, so the report works offline and from the archive; deflate brings ≈5 MB of HTML to ≈1.5 MB, which
keeps a whole weekly report far below the 10 MB mail budget (docs/reports.md compares the alternatives).
"""

from __future__ import annotations

import copy
import hashlib
import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

__all__ = ["build_combined_report", "count_rendered_figures", "zip_report"]

_BIG = 100_000
_NEWPLOT = re.compile(r"Plotly\.newPlot\(\s*[\"']([0-9a-f-]{36})[\"']")


def build_combined_report(notebooks: Sequence[tuple[str, Path]], out_html: Path, title: str) -> Path:
    """Write one HTML document (no code cells) with a section per executed notebook.

    Parameters
    ----------
    notebooks:
        ``(section title, executed .ipynb path)`` pairs, in report order.
    out_html:
        Destination file.
    title:
        Document title and top heading.
    """
    merged = nbformat.v4.new_notebook()
    toc = "\n".join(f"- [{name}](#section-{i})" for i, (name, _) in enumerate(notebooks))
    merged.cells.append(nbformat.v4.new_markdown_cell(f"# {title}\n\n{toc}"))
    seen: set[str] = set()
    for i, (name, path) in enumerate(notebooks):
        nb = nbformat.read(path, as_version=4)
        merged.metadata.setdefault("kernelspec", nb.metadata.get("kernelspec", {}))
        merged.cells.append(nbformat.v4.new_markdown_cell(f'<a id="section-{i}"></a>\n\n---\n\n# {name}'))
        for j, cell in enumerate(nb.cells):
            cell = copy.deepcopy(cell)
            cell["id"] = f"s{i}-c{j}"
            if cell.cell_type == "code":
                kept = []
                for output in cell.get("outputs", []):
                    markup = str((output.get("data") or {}).get("text/html", ""))
                    if len(markup) > _BIG:
                        digest = hashlib.sha256(markup.encode()).hexdigest()
                        if digest in seen:
                            continue  # a second copy of plotly.js
                        seen.add(digest)
                    kept.append(output)
                cell["outputs"] = kept
            merged.cells.append(cell)
    body, _ = HTMLExporter(exclude_input=True).from_notebook_node(
        merged, resources={"metadata": {"name": title}}
    )
    out_html.write_text(body, encoding="utf-8")
    return out_html


def count_rendered_figures(report_html: str) -> int:
    """Number of distinct plotly figures the HTML draws (``Plotly.newPlot`` calls with a div id)."""
    return len(set(_NEWPLOT.findall(report_html)))


def zip_report(html_path: Path, zip_path: Path) -> Path:
    """Deflate ``html_path`` into ``zip_path`` (one member, same base name)."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.write(html_path, arcname=html_path.name)
    return zip_path
