"""Writes the Grafana dashboards in ops/grafana/dashboards/ (run: python ops/grafana/build_dashboards.py).

The JSON files are committed; tests/test_ops_grafana.py checks they match this script's output, their
structure, and that every metric a panel queries is one the code emits through the statsd_exporter mapping.
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
RATE = "[$__rate_interval]"
DS_INPUT = [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus",
             "pluginName": "Prometheus"}]


def _quantiles(metric: str, by: str = "") -> list[tuple[str, str]]:
    group = f"le{', ' + by if by else ''}"
    legend = f"{{{{{by}}}}} " if by else ""
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))", f"{legend}p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)]


def _panel(pid: int, title: str, targets: list[tuple[str, str]], x: int, y: int, w: int = 12, h: int = 8,
           kind: str = "timeseries", unit: str = "short", threshold: float | None = None) -> dict:
    steps = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    custom = {"thresholdsStyle": {"mode": "line" if threshold is not None else "off"}} if kind == "timeseries" else {}
    return {
        "id": pid, "type": kind, "title": title, "datasource": DS,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom,
                                     "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def _dashboard(uid: str, title: str, panels: list[dict], tags: list[str], templating: list[dict] = ()) -> dict:
    return {"__inputs": DS_INPUT, "uid": uid, "title": title, "tags": ["ai_calculator", *tags],
            "schemaVersion": 39, "version": 1, "editable": True, "timezone": "utc", "refresh": "1m",
            "time": {"from": "now-24h", "to": "now"}, "templating": {"list": list(templating)},
            "annotations": {"list": []}, "panels": panels}


def performance() -> dict:
    return _dashboard("ai-calc-performance", "AI Calculator — performance", [
        _panel(1, "Calculator load time (p50/p95/p99)", _quantiles("ai_calculator_load_time_seconds"), 0, 0,
               unit="s", threshold=3),
        _panel(2, "Step load time p95 by step", [(
            f"histogram_quantile(0.95, sum by (le, step) (rate(ai_calculator_step_load_time_seconds_bucket{RATE})))",
            "step {{step}}")], 12, 0, unit="s"),
        _panel(3, "Database query p95 by query", [(
            f"histogram_quantile(0.95, sum by (le, query) (rate(ai_calculator_db_query_seconds_bucket{RATE})))",
            "{{query}}")], 0, 8, unit="s", threshold=1),
        _panel(4, "Slow queries per minute", [(
            f"sum by (query) (rate(ai_calculator_db_slow_queries_total{RATE})) * 60", "{{query}}")], 12, 8),
        _panel(5, "API response p95 by route", [(
            f"histogram_quantile(0.95, sum by (le, route) (rate(ai_calculator_api_response_seconds_bucket{RATE})))",
            "{{route}}")], 0, 16, unit="s", threshold=2),
        _panel(6, "CPU %", [("ai_calculator_system_cpu_percent", "system"),
                            ("ai_calculator_process_cpu_percent", "process")], 12, 16, w=6, unit="percent",
               threshold=70),
        _panel(7, "Memory", [("ai_calculator_system_memory_percent", "system %")], 18, 16, w=6, unit="percent",
               threshold=80),
        _panel(8, "Process RSS", [("ai_calculator_process_rss_bytes", "rss")], 0, 24, w=6, unit="bytes"),
        _panel(9, "Payment processing p95", [(
            f"histogram_quantile(0.95, sum by (le, outcome) "
            f"(rate(ai_calculator_payment_processing_seconds_bucket{RATE})))", "{{outcome}}")], 6, 24, w=6,
            unit="s"),
        _panel(10, "Payment success rate", [(
            'sum(increase(ai_calculator_payments_total{outcome="succeeded"}[$__range])) / '
            "sum(increase(ai_calculator_payments_total[$__range]))", "success")], 12, 24, w=6, kind="stat",
            unit="percentunit"),
        _panel(11, "Email delivery and open rate", [
            ('sum(increase(ai_calculator_email_total{status="delivered"}[$__range])) / '
             'sum(increase(ai_calculator_email_total{status="sent"}[$__range]))', "delivered / sent"),
            ('sum(increase(ai_calculator_email_total{status="opened"}[$__range])) / '
             'sum(increase(ai_calculator_email_total{status="delivered"}[$__range]))', "opened / delivered")],
            18, 24, w=6, kind="stat", unit="percentunit"),
    ], ["performance"])


FUNNEL_STEPS = ("ai_calculator_opened", "calculator_step_completed", "assessment_submitted",
                "conversion_offer_viewed", "paid_upgrade_clicked", "payment_succeeded")


def funnel() -> dict:
    steps = "|".join(FUNNEL_STEPS)
    return _dashboard("ai-calc-funnel", "AI Calculator — conversion funnel", [
        _panel(1, "Funnel (events in range)", [(
            f'sum by (event_type) (increase(ai_calculator_events_total{{event_type=~"{steps}"}}[$__range]))',
            "{{event_type}}")], 0, 0, w=24, kind="barchart"),
        _panel(2, "Calculator steps completed per hour", [(
            f"sum by (step) (rate(ai_calculator_funnel_step_completed_total{RATE})) * 3600", "step {{step}}")],
            0, 8),
        _panel(3, "Conversion rate (reported)", [("ai_calculator_conversion_rate", "conversion rate")], 12, 8,
               unit="percentunit"),
        _panel(4, "Assessments per hour", [(
            f'sum(rate(ai_calculator_events_total{{event_type="assessment_submitted"}}{RATE})) * 3600',
            "assessments")], 0, 16, w=24),
    ], ["funnel"])


def revenue() -> dict:
    return _dashboard("ai-calc-revenue", "AI Calculator — revenue attribution", [
        _panel(1, "Revenue by traffic source (range)", [(
            "sum by (source) (increase(ai_calculator_revenue_cents_total[$__range])) / 100", "{{source}}")],
            0, 0, kind="barchart", unit="currencyUSD"),
        _panel(2, "Revenue by plan (range)", [(
            "sum by (plan) (increase(ai_calculator_revenue_cents_total[$__range])) / 100", "{{plan}}")],
            12, 0, kind="barchart", unit="currencyUSD"),
        _panel(3, "Revenue per hour by source", [(
            f"sum by (source) (rate(ai_calculator_revenue_cents_total{RATE})) * 36", "{{source}}")], 0, 8, w=24,
            unit="currencyUSD"),
    ], ["revenue"])


def errors() -> dict:
    return _dashboard("ai-calc-errors", "AI Calculator — error rate", [
        _panel(1, "API error rate (5xx share)", [(
            f'sum(rate(ai_calculator_api_requests_total{{status=~"5.."}}{RATE})) / '
            f"sum(rate(ai_calculator_api_requests_total{RATE}))", "5xx share")], 0, 0, unit="percentunit",
            threshold=0.05),
        _panel(2, "Client errors per opened calculator", [(
            f'sum(rate(ai_calculator_events_total{{event_type="client_error"}}{RATE})) / '
            f'sum(rate(ai_calculator_events_total{{event_type="ai_calculator_opened"}}{RATE}))', "errors / opens")],
            12, 0, unit="percentunit", threshold=0.05),
        _panel(3, "Requests by status", [(
            f"sum by (status) (rate(ai_calculator_api_requests_total{RATE}))", "{{status}}")], 0, 8),
        _panel(4, "Payment failures per hour", [(
            f'sum by (plan) (rate(ai_calculator_payments_total{{outcome="failed"}}{RATE})) * 3600', "{{plan}}")],
            12, 8),
    ], ["errors"])


def ab_results() -> dict:
    var = {"name": "test_id", "type": "query", "datasource": DS, "refresh": 2, "includeAll": False,
           "query": {"query": "label_values(ai_calculator_ab_exposures_total, test_id)", "refId": "v"},
           "definition": "label_values(ai_calculator_ab_exposures_total, test_id)"}
    return _dashboard("ai-calc-ab", "AI Calculator — A/B results", [
        _panel(1, "Exposures by variant", [(
            'sum by (variant) (increase(ai_calculator_ab_exposures_total{test_id="$test_id"}[$__range]))',
            "{{variant}}")], 0, 0, kind="barchart"),
        _panel(2, "Conversion rate by variant", [(
            'sum by (variant) (increase(ai_calculator_ab_conversions_total{test_id="$test_id"}[$__range])) / '
            'sum by (variant) (increase(ai_calculator_ab_exposures_total{test_id="$test_id"}[$__range]))',
            "{{variant}}")], 12, 0, kind="barchart", unit="percentunit"),
        _panel(3, "Conversions per hour by variant", [(
            f'sum by (variant) (rate(ai_calculator_ab_conversions_total{{test_id="$test_id"}}{RATE})) * 3600',
            "{{variant}}")], 0, 8, w=24),
    ], ["ab"], [var])


DASHBOARDS = {"calculator_performance.json": performance, "conversion_funnel.json": funnel,
              "revenue_attribution.json": revenue, "error_rate.json": errors, "ab_results.json": ab_results}


def render(name: str) -> str:
    return json.dumps(DASHBOARDS[name](), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        (OUT / name).write_text(render(name), encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
