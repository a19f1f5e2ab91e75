"""Reader for the public CDNOW transaction files (Fader, Hardie & Lee 2005), the benchmark for the LTV models.

The files are committed in ``data/cdnow/`` (or the directory named by the ``CDNOW_DIR`` environment variable);
see that directory's README for provenance and the published results.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from analytics.errors import InvalidParameterError, NotFoundError

__all__ = ["cdnow_dir", "load_cdnow_transactions"]

_FILES = {
    "sample": ("CDNOW_sample.txt", ["customer_id", "sample_id", "date", "cds", "dollars"], None),
    "master": ("CDNOW_master.txt", ["customer_id", "date", "cds", "dollars"], 1),
}


def cdnow_dir() -> Path:
    """Directory with the CDNOW files: ``$CDNOW_DIR``, else the copy committed in ``<repo>/data/cdnow`` (public
    research data, redistributed under the MIT licence of the ``lifetimes`` package; see its README)."""
    env = os.environ.get("CDNOW_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data" / "cdnow"


def load_cdnow_transactions(kind: str = "sample", directory: str | Path | None = None) -> pd.DataFrame:
    """Load CDNOW transactions: ``customer_id`` (int), ``date`` (datetime64), ``cds`` (int), ``dollars``.

    Parameters
    ----------
    kind:
        ``"sample"`` (6,919 transactions of the 2,357-customer 1/10 sample used in the BG/NBD paper; the
        ``customer_id`` is the sample's own 1…2,357 id) or ``"master"`` (69,659 transactions of 23,570
        customers).
    directory:
        Where the files are (default :func:`cdnow_dir`).
    """
    if kind not in _FILES:
        raise InvalidParameterError("kind", f"'kind' must be one of {sorted(_FILES)} (got {kind!r})")
    name, columns, skip = _FILES[kind]
    path = Path(directory) if directory is not None else cdnow_dir()
    file = path / name
    if not file.exists():
        raise NotFoundError("CDNOW file", str(file))
    raw = pd.read_csv(file, sep=r"\s+", header=None, names=columns, skiprows=skip, dtype={"date": str})
    if kind == "sample":
        raw = raw.drop(columns="customer_id").rename(columns={"sample_id": "customer_id"})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "date", "cds", "dollars"]].astype(
        {"customer_id": int, "cds": int, "dollars": float}
    )
