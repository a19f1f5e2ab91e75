"""Static PNG images of plotly figures for the e-mail body (mail clients run no JavaScript).

The figure JSON that the ``plotly_mimetype`` renderer stores in the executed notebook is redrawn with
matplotlib (Agg backend). Supported traces: ``scatter``/``scattergl`` (lines and/or markers), ``bar``
(vertical or horizontal, grouped or stacked), ``funnel`` (as horizontal bars) and ``heatmap``. A figure with
any other trace type has no image; the e-mail then shows its data as a table (:func:`figure_table`).
"""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np

__all__ = ["decode_array", "figure_png", "figure_table", "figure_title"]

SUPPORTED = {"scatter", "scattergl", "bar", "funnel", "heatmap"}
_MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]00:00:00(\.0+)?([+-]00:00|Z)?$")
_DTYPES = {
    "i1": "<i1",
    "u1": "<u1",
    "i2": "<i2",
    "u2": "<u2",
    "i4": "<i4",
    "u4": "<u4",
    "f4": "<f4",
    "f8": "<f8",
    "u1c": "<u1",
}


def decode_array(value: Any) -> list[Any] | None:
    """Plain list from a plotly JSON array, including plotly ≥ 6 typed arrays ``{"dtype", "bdata"}``."""
    if value is None:
        return None
    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=_DTYPES.get(value.get("dtype"), "<f8"))
        shape = value.get("shape")
        if shape:
            arr = arr.reshape([int(s) for s in str(shape).split(",")])
        return arr.tolist()
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def figure_title(fig: dict[str, Any]) -> str:
    """The figure's title text, or an empty string."""
    title = (fig.get("layout") or {}).get("title")
    if isinstance(title, dict):
        return str(title.get("text") or "")
    return str(title or "")


def _axis_title(layout: dict[str, Any], axis: str) -> str:
    title = (layout.get(axis) or {}).get("title")
    return str(title.get("text") or "") if isinstance(title, dict) else str(title or "")


def _label(value: Any) -> str:
    """Category label; midnight timestamps (``2026-09-21T00:00:00.000000``) shorten to their date."""
    text = str(value)
    return text[:10] if _MIDNIGHT.match(text) else text


def _numeric_or_labels(values: list[Any]) -> list[Any]:
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return [_label(v) for v in values]


def figure_png(fig: dict[str, Any], width_px: int = 640, height_px: int = 320) -> bytes | None:
    """PNG bytes of the figure, or ``None`` when a trace type is not supported or the figure is empty."""
    traces = fig.get("data") or []
    if not traces or any(t.get("type", "scatter") not in SUPPORTED for t in traces):
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    layout = fig.get("layout") or {}
    dpi = 100
    figure, ax = plt.subplots(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    try:
        stacked = layout.get("barmode") in ("stack", "relative")
        bars = [t for t in traces if t.get("type") in ("bar", "funnel")]
        width = 0.8 / (1 if stacked or not bars else len(bars))
        bottoms: dict[Any, float] = {}
        for trace in traces:
            kind = trace.get("type", "scatter")
            x, y = decode_array(trace.get("x")), decode_array(trace.get("y"))
            label = trace.get("name") or None
            if kind == "heatmap":
                z = np.asarray(decode_array(trace.get("z")), dtype=float)
                image = ax.imshow(z, aspect="auto", cmap="viridis")
                figure.colorbar(image, ax=ax)
                if x:
                    ax.set_xticks(range(len(x)), [str(v) for v in x], rotation=45, ha="right")
                if y:
                    ax.set_yticks(range(len(y)), [str(v) for v in y])
                continue
            horizontal = kind == "funnel" or trace.get("orientation") == "h"
            if kind in ("bar", "funnel"):
                cats, vals = (y, x) if horizontal else (x, y)
                vals = [float(v) for v in (vals or [])]
                cats = [_label(c) for c in (cats or range(len(vals)))]
                pos = np.arange(len(cats), dtype=float)
                offset = 0 if stacked else (bars.index(trace) - (len(bars) - 1) / 2) * width
                base = [bottoms.get(c, 0.0) if stacked else 0.0 for c in cats]
                draw = ax.barh if horizontal else ax.bar
                kwargs = {"left" if horizontal else "bottom": base}
                draw(pos + offset, vals, width, label=label, **kwargs)
                if horizontal:
                    ax.set_yticks(pos, cats)
                else:
                    ax.set_xticks(
                        pos,
                        cats,
                        rotation=30 if len(cats) > 5 else 0,
                        ha="right" if len(cats) > 5 else "center",
                    )
                if horizontal and kind == "funnel":
                    ax.invert_yaxis()
                for c, v in zip(cats, vals, strict=True):
                    bottoms[c] = bottoms.get(c, 0.0) + v
                continue
            y = _numeric_or_labels(y or [])
            x = _numeric_or_labels(x) if x else list(range(len(y)))
            mode = trace.get("mode") or "lines"
            style = ("-" if "lines" in mode else "") + ("o" if "markers" in mode else "")
            ax.plot(x, y, style or "-", label=label, markersize=3)
            if x and isinstance(x[0], str) and len(x) > 8:
                step = max(1, len(x) // 8)
                ax.set_xticks(range(0, len(x), step), x[::step], rotation=30, ha="right")
        ax.set_title(figure_title(fig), fontsize=11)
        ax.set_xlabel(_axis_title(layout, "xaxis"))
        ax.set_ylabel(_axis_title(layout, "yaxis"))
        if sum(1 for t in traces if t.get("name")) > 1:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        figure.tight_layout()
        buf = io.BytesIO()
        figure.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(figure)


def figure_table(fig: dict[str, Any], max_rows: int = 20) -> list[tuple[str, list[tuple[str, str]]]]:
    """Per trace, ``(name, [(x, y), ...])`` with at most ``max_rows`` points, for figures without an image."""
    out = []
    for n, trace in enumerate(fig.get("data") or []):
        x = decode_array(trace.get("x") or trace.get("labels")) or []
        y = decode_array(trace.get("y") or trace.get("values")) or []
        pairs = [
            (str(a), f"{b:,.4g}" if isinstance(b, int | float) else str(b))
            for a, b in zip(x, y, strict=False)
        ]
        out.append((str(trace.get("name") or f"trace {n + 1}"), pairs[:max_rows]))
    return out
