"""Plain JSON from whatever the analytics objects return (dataclasses, DataFrames, numpy, datetimes, NaN)."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["dumps", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Recursively convert to JSON types: NaN/inf → ``None``, times → ISO strings, frames → records."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp | datetime | date):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, timedelta | pd.Timedelta):
        return value.total_seconds()
    if isinstance(value, pd.DataFrame):
        return [to_jsonable(r) for r in value.reset_index().to_dict("records")] if value.index.name else [
            to_jsonable(r) for r in value.to_dict("records")]  # fmt: skip
    if isinstance(value, pd.Series | np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "as_dict"):
            return to_jsonable(value.as_dict())
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of :func:`to_jsonable` (strict: no NaN)."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
