"""Reading back what the alerting sent (``alert_log``) for reports and the performance notebook."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select

from analytics.schema import alert_log

__all__ = ["read_alert_log"]

_COLUMNS = ["sent_at", "rule", "state", "severity", "channel", "value", "ok", "error", "kind", "attempts"]


def read_alert_log(engine: Engine, start: datetime, end: datetime) -> pd.DataFrame:
    """Deliveries with ``start <= sent_at < end`` (naive UTC), oldest first, ``sent_at`` as tz-aware UTC.

    ``kind`` (``firing``/``repeat``/``resolved``) and ``attempts`` come from the stored payload.
    """
    q = (select(alert_log).where(alert_log.c.sent_at >= start, alert_log.c.sent_at < end)
         .order_by(alert_log.c.sent_at, alert_log.c.id))
    with engine.connect() as conn:
        rows = conn.execute(q).mappings().all()
    records = []
    for r in rows:
        payload = r["payload"] or {}
        records.append({"sent_at": r["sent_at"], "rule": r["rule"], "state": r["state"],
                        "severity": r["severity"], "channel": r["channel"], "value": r["value"],
                        "ok": bool(r["ok"]), "error": r["error"], "kind": payload.get("kind"),
                        "attempts": payload.get("attempts")})
    df = pd.DataFrame.from_records(records, columns=_COLUMNS)
    df["sent_at"] = pd.to_datetime(df["sent_at"]).dt.tz_localize("UTC")
    return df
