"""Monthly partitions on PostgreSQL: created by the migration, maintained idempotently, default rows moved."""

from datetime import date, datetime

import pytest
from dbutil import drop_coming_months
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from analytics.events import validate_event
from analytics.partitions import _UPKEEP_LOCK_KEY, maintain, month_partitions, partition_name, upkeep
from analytics.storage import write_events


def test_partition_name():
    assert partition_name(date(2026, 1, 1)) == "analytics_events_y2026m01"


def test_noop_on_sqlite(sqlite_engine):
    assert maintain(sqlite_engine) == []
    with sqlite_engine.connect() as c:
        assert month_partitions(c) == []


@pytest.fixture
def pg_engine(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("partitioning is PostgreSQL-only")
    return engine


def test_migration_creates_months_around_now(pg_engine):
    today = datetime.utcnow()
    with pg_engine.connect() as c:
        names = month_partitions(c)
    assert partition_name(date(today.year, today.month, 1)) in names
    assert len(names) == 16  # 12 months back, this month, 3 ahead


def test_maintain_is_idempotent(pg_engine):
    assert maintain(pg_engine) == []
    created = maintain(pg_engine, start=date(2030, 1, 1), end=date(2030, 2, 1))
    assert created == ["analytics_events_y2030m01", "analytics_events_y2030m02"]
    assert maintain(pg_engine, start=date(2030, 1, 1), end=date(2030, 2, 1)) == []


def test_rows_in_default_partition_move_to_new_month(pg_engine):
    far = validate_event({"event_type": "ai_calculator_opened", "session_id": "s", "event_id": "far",
                          "timestamp": "2031-05-10T00:00:00Z"}, now=datetime(2031, 5, 10))
    write_events(pg_engine, [far])
    with pg_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM analytics_events_default")).scalar() == 1
    assert maintain(pg_engine, start=date(2031, 5, 1), end=date(2031, 5, 1)) == ["analytics_events_y2031m05"]
    with pg_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM analytics_events_default")).scalar() == 0
        assert c.execute(text("SELECT event_id FROM analytics_events_y2031m05")).scalars().all() == ["far"]


def test_upkeep_creates_the_coming_months_and_is_a_noop_on_sqlite(pg_engine, sqlite_engine):
    with sqlite_engine.connect() as c:
        assert upkeep(c) is None
    names = drop_coming_months(pg_engine)
    with pg_engine.connect() as c:
        assert upkeep(c) == names
        assert upkeep(c) == []
        assert set(names) <= set(month_partitions(c))


def test_upkeep_skips_while_another_process_holds_its_lock(pg_engine):
    drop_coming_months(pg_engine, 1)
    with pg_engine.connect() as holder, pg_engine.connect() as c:
        holder.begin()
        holder.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPKEEP_LOCK_KEY})")
        assert upkeep(c) is None
        holder.rollback()
        assert len(upkeep(c)) == 1


def test_upkeep_gives_up_on_a_table_lock_after_its_timeout(pg_engine):
    drop_coming_months(pg_engine, 1)
    with pg_engine.connect() as holder, pg_engine.connect() as c:
        holder.begin()
        holder.exec_driver_sql("LOCK TABLE analytics_events_default IN ACCESS EXCLUSIVE MODE")  # a long report's lock
        with pytest.raises(OperationalError, match="lock timeout"):
            upkeep(c, lock_timeout_ms=200)
        holder.rollback()
        assert len(upkeep(c)) == 1
