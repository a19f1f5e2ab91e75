"""Grafana dashboards and the statsd_exporter mapping: structure, freshness, and that every metric a panel
queries is one the code emits (the catalogue run through the mapping file)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

from analytics.performance import METRICS

OPS = Path(__file__).resolve().parent.parent / "ops"
MAPPING = yaml.safe_load((OPS / "statsd_exporter" / "mapping.yml").read_text())
DASHBOARD_FILES = sorted((OPS / "grafana" / "dashboards").glob("*.json"))
_STATSD_TYPE = {"counter": "counter", "gauge": "gauge", "timer": "observer"}
_PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "le", "without", "avg", "max", "min"}


def _map(statsd_name: str, kind: str) -> tuple[str, dict[str, str]] | None:
    """What statsd_exporter does with one metric: first matching mapping wins; ``None`` when dropped."""
    for m in MAPPING["mappings"]:
        if m.get("match_metric_type") not in (None, _STATSD_TYPE[kind]):
            continue
        if m.get("match_type", MAPPING["defaults"]["match_type"]) == "regex":
            match = re.search(m["match"], statsd_name)
        else:
            pattern = "^" + re.escape(m["match"]).replace(r"\*", "([^.]*)") + "$"
            match = re.match(pattern, statsd_name)
        if not match:
            continue
        if m.get("action") == "drop":
            return None

        def sub(text: str, groups=match.groups()) -> str:
            return re.sub(r"\$\{?(\d+)\}?", lambda g: groups[int(g.group(1)) - 1], text)

        return sub(m["name"]), {k: sub(v) for k, v in (m.get("labels") or {}).items()}
    return None


def _series() -> dict[str, set[str]]:
    """Prometheus series name → label names, for every catalogue metric (histograms add _bucket/_sum/_count)."""
    out: dict[str, set[str]] = {}
    for spec in METRICS:
        mapped = _map(spec.example_name(), spec.kind)
        assert mapped is not None, f"{spec.example_name()} is dropped by the mapping"
        name, labels = mapped
        if spec.kind == "timer":
            out[f"{name}_bucket"] = set(labels) | {"le"}
            out[f"{name}_sum"] = out[f"{name}_count"] = set(labels)
        else:
            out[name] = set(labels)
    return out


SERIES = _series()


def test_mapping_turns_catalogue_into_labelled_metrics():
    assert _map("ai_calculator.assessment_submitted", "counter") == (
        "ai_calculator_events_total", {"event_type": "assessment_submitted"})
    assert _map("ai_calculator.db.query_time.get_user_data", "timer") == (
        "ai_calculator_db_query_seconds", {"query": "get_user_data"})
    assert _map("ai_calculator.system.cpu_percent", "gauge") == ("ai_calculator_system_cpu_percent", {})
    assert _map("ai_calculator.load_time", "timer") == ("ai_calculator_load_time_seconds", {})
    assert _map("ai_calculator.api.requests.api_e.POST.503", "counter") == (
        "ai_calculator_api_requests_total", {"route": "api_e", "method": "POST", "status": "503"})
    assert _map("something.else", "counter") is None
    assert _map("ai_calculator.assessment_submitted", "gauge") is None  # typed match: no stray series
    for name in SERIES:
        assert re.fullmatch(r"ai_calculator_[a-z0-9_]+", name), name


def test_mapping_defaults():
    assert MAPPING["defaults"]["observer_type"] == "histogram"
    buckets = MAPPING["defaults"]["histogram_options"]["buckets"]
    assert buckets == sorted(buckets) and 3 in buckets and 1 in buckets and 2 in buckets  # the alert lines


def test_dashboards_are_fresh():
    spec = importlib.util.spec_from_file_location("build_dashboards", OPS / "grafana" / "build_dashboards.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert sorted(p.name for p in DASHBOARD_FILES) == sorted(mod.DASHBOARDS)
    for path in DASHBOARD_FILES:
        assert path.read_text(encoding="utf-8") == mod.render(path.name), f"{path.name}: run build_dashboards"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_structure(path):
    d = json.loads(path.read_text())
    assert d["title"] and d["uid"] and d["schemaVersion"] >= 36 and d["panels"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert p["type"] in {"timeseries", "stat", "barchart", "table", "gauge"}
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "hwxy") and g["x"] + g["w"] <= 24
        assert p["datasource"]["type"] == "prometheus" and p["targets"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["expr"].count("(") == t["expr"].count(")"), t["expr"]


def _queries(d: dict) -> list[str]:
    exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
    exprs += [v["query"]["query"] for v in d["templating"]["list"] if v["type"] == "query"]
    return exprs


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_queried_metric_is_emitted(path):
    d = json.loads(path.read_text())
    for expr in _queries(d):
        names = re.findall(r"\bai_calculator_[a-z0-9_]+", re.sub(r'"[^"]*"', '""', expr))
        assert names, expr
        for name in names:
            assert name in SERIES, f"{path.name}: {name} is not emitted (query {expr})"
        for name, selector in re.findall(r"\b(ai_calculator_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*=~?", selector):
                assert label in SERIES[name], f"{path.name}: {name} has no label {label}"
        for group in re.findall(r"by \(([^)]*)\)", expr):
            used = {g.strip() for g in group.split(",")}
            assert any(used <= SERIES[n] for n in names), f"{path.name}: by ({group}) on {names}"
    legends = [t["legendFormat"] for p in d["panels"] for t in p["targets"]]
    for legend in legends:
        for label in re.findall(r"\{\{(\w+)\}\}", legend):
            assert any(label in labels for labels in SERIES.values()), legend


def test_required_dashboards_exist():
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARD_FILES}
    assert titles == {"AI Calculator — performance", "AI Calculator — conversion funnel",
                      "AI Calculator — revenue attribution", "AI Calculator — error rate",
                      "AI Calculator — A/B results"}


def test_provisioning_points_at_prometheus():
    ds = yaml.safe_load((OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    prom = yaml.safe_load((OPS / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["statsd-exporter:9102"]
