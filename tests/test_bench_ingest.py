"""bench.ingest: the median's distribution-free interval and the verdict lines (no server started here)."""

import pytest
from scipy import stats

from bench.ingest import _next_delay, _verdicts, cpu_budget, median_interval


def test_five_runs_give_min_and_max_at_93_75_percent():
    # k = 1: coverage 1 - 2 * P(B <= 0) = 1 - 2 / 32 (hand-computed); k = 2 would give 1 - 2 * 6 / 32 = 0.625
    assert median_interval([0.4, 0.2, 0.5, 0.3, 0.1]) == (0.1, 0.5, 1 - 2 / 32)


def test_nine_runs_drop_one_run_at_each_end():
    # k = 2: 1 - 2 * (1 + 9) / 512 = 0.9609 >= 0.90; k = 3: 1 - 2 * 46 / 512 = 0.8203 < 0.90
    low, high, cov = median_interval(range(1, 10))
    assert (low, high) == (2, 8)
    assert cov == pytest.approx(1 - 2 * 10 / 512)
    # the same coverage from scipy's binomial distribution
    assert cov == pytest.approx(1 - 2 * stats.binom.cdf(1, 9, 0.5))


def test_interval_needs_values():
    with pytest.raises(ValueError, match=r"median_interval needs at least one value \(got none\)"):
        median_interval([])


def _result(p99=7.0, events=30_000.0):
    return {"single event": {"rps": 2_000.0}, "single event, half load": {"p99": p99, "rps": 1_020.0},
            "batch of 100": {"events_per_s": events}}


def test_verdicts_met_not_met_and_undecided():
    paired = {"single event": [0.51, 0.52, 0.55, 0.60, 0.70], "variant": [0.70, 0.75, 0.81, 0.85, 0.90]}
    lines = _verdicts(_result(), paired, [30_000, 31_000, 32_000, 33_000, 49_999])
    assert lines == [
        "- single events ≥ 0.50 of hello-world req/s (paired median): 0.55, 93.75% interval 0.51 to 0.70 -- met",
        "- p99 < 20 ms at half that load: 7.0 ms at 0.51 of the single-event rate -- met",
        "- 100-event batches ≥ 50,000 events/s (median run): 30,000, 93.75% interval 30,000 to 49,999 -- NOT met",
        "- variant ≥ 0.80 of hello-world req/s (paired median): 0.81, 93.75% interval 0.70 to 0.90 -- "
        "undecided (its interval contains the bar)",
    ]


def test_p99_over_the_bar_is_not_met_and_no_batch_runs_fall_back_to_the_median_run():
    paired = {"single event": [0.3], "variant": [0.9]}
    lines = _verdicts(_result(p99=25.0, events=51_000.0), paired)
    assert lines[1] == "- p99 < 20 ms at half that load: 25.0 ms at 0.51 of the single-event rate -- NOT met"
    assert lines[2] == "- 100-event batches ≥ 50,000 events/s (median run): 51,000 -- met"
    # one run has no interval (coverage 0): the point verdict
    assert lines[0] == "- single events ≥ 0.50 of hello-world req/s (paired median): 0.30 -- NOT met"
    assert lines[3] == "- variant ≥ 0.80 of hello-world req/s (paired median): 0.90 -- met"


def _cpu(server, writer, database, wrk, **extra):
    return {"rps": 1.0, "cpu_server_us": server, "cpu_writer_us": writer, "cpu_database_us": database,
            "cpu_wrk_us": wrk, **extra}


def test_cpu_budget_from_the_median_runs():
    # the ninth session's SQLite run (docs/ingest-measurements.md), by hand: 363 + 177 + 0 + 51 = 591 against 225 + 38 = 263,
    # 263 / 591 = 0.445, 263 / 0.50 = 526; 243 + 15 + 41 = 299 against 211 + 41 = 252, 252 / 299 = 0.843,
    # 252 / 0.80 = 315; (2,099 + 2,104 + 125) / 100 = 43.28 µs per event, 2 / 43.28e-6 = 46,211 events/s,
    # 36,567 * 43.28e-6 = 1.58 cores
    r = {"hello POST": _cpu(225, 0, 0, 38), "hello GET": _cpu(211, 0, 0, 41), "single event": _cpu(363, 177, 0, 51),
         "variant": _cpu(243, 15, 0, 41), "batch of 100": _cpu(2_099, 2_104, 0, 125, events_per_s=36_567.0)}
    assert cpu_budget(r, cores=2) == [
        "- CPU budget, single event: 591 µs per request against 263 for the hello-world, CPU ratio 0.45; "
        "0.50 needs at most 526 µs",
        "- CPU budget, variant: 299 µs per request against 252 for the hello-world, CPU ratio 0.84; "
        "0.80 needs at most 315 µs",
        "- CPU budget, 100-event batches: 43.3 µs per event stored; 2 fully busy cores would store at most "
        "46,211 events/s (the run used 1.58 cores)",
    ]


def test_cpu_budget_needs_measured_cpu():
    # runs without CPU accounting (no process group given) have no budget lines
    assert cpu_budget({"hello POST": {"rps": 1.0}, "single event": {"rps": 1.0}}, cores=2) == []


def test_pause_for_half_load_from_a_probe():
    # 16 connections reached 2,000 req/s with no pause: 8 ms per request (16 / 2,000 s); 1,000 req/s needs a
    # 16 ms cycle, so an 8 ms pause
    assert _next_delay(0.0, 2_000.0, 1_000.0) == pytest.approx(8.0)
    # with that pause they reached 1,280 req/s: 12.5 ms cycle, so the answer took 4.5 ms; 16 - 4.5 = 11.5 ms
    assert _next_delay(8.0, 1_280.0, 1_000.0) == pytest.approx(11.5)
    # a target above what no pause gives: no pause, never a negative one
    assert _next_delay(0.0, 2_000.0, 3_000.0) == 0.0
    # other connection counts: 4 connections at 500 req/s = 8 ms per request; 250 req/s needs 16 ms: 8 ms pause
    assert _next_delay(0.0, 500.0, 250.0, connections=4) == pytest.approx(8.0)


def test_pause_needs_positive_rates():
    with pytest.raises(ValueError, match=r"rates must be positive \(got measured_rps=0.0, target_rps=1000.0\)"):
        _next_delay(0.0, 0.0, 1_000.0)


def test_cpu_accounting_counts_postgresql_server_processes(pg_url_or_skip):
    # a query that keeps a PostgreSQL backend busy shows up as "database" CPU, not as this process group's
    import os

    from sqlalchemy import create_engine, text

    from bench.ingest import _cpu_seconds

    engine = create_engine(pg_url_or_skip)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            before = _cpu_seconds(os.getpgid(0))
            conn.execute(text("SELECT count(*) FROM generate_series(1, 5000000)")).scalar()
            after = _cpu_seconds(os.getpgid(0))
    finally:
        engine.dispose()
    assert after["database"] - before["database"] >= 0.2  # 5 M rows aggregate: ≈0.5-1 s of backend CPU here
    assert set(after) == {"server", "writer", "database"}


@pytest.fixture
def pg_url_or_skip():
    from dbutil import TEST_DATABASE_URL

    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    return TEST_DATABASE_URL
