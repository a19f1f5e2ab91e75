"""The group writer's jobs, errors and retry queue (``ingest_service.jobs``)."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from ingest_service import writer
from ingest_service.jobs import DatabaseUnavailable, Job, RetryQueue, describe, finish


def job(payload: str, size: int, wait: bool = False) -> Job:
    return Job("exposures", payload, size, wait, notify=False)


def test_retry_queue_keeps_unwaited_jobs_oldest_first_within_its_bound(caplog):
    queue = RetryQueue(max_events=5)
    failed = [job("a", 2), job("b", 1, wait=True), job("c", 4), job("d", 3)]
    finish(failed, error=DatabaseUnavailable("down"))
    queue.keep(failed)
    assert (queue.size, queue.dropped) == (5, 4)  # a + d kept; b was waited for; c did not fit
    assert [j.error for j in failed] == [None, failed[1].error, failed[2].error, None]
    assert caplog.messages == ["dropped an unwritten 'exposures' job of 4 events: 2 events already wait for the "
                               "database (limit 5)"]  # fmt: skip
    assert [j.payload for j in queue.take(max_events=1)] == ["a"]  # at least one job, even above max_events
    assert queue.size == 3
    assert [j.payload for j in queue.take(max_events=10)] == ["d"]
    assert (queue.size, queue.take(10)) == (0, [])


def test_retry_queue_clear_forgets_everything():
    queue = RetryQueue(max_events=10)
    queue.keep([job("a", 2), job("b", 3)])
    queue.clear()
    assert (queue.size, queue.take(10)) == (0, [])


def test_describe_takes_the_drivers_first_line():
    exc = OperationalError("INSERT", {}, Exception("could not connect\nDETAIL: refused"))
    assert describe(exc) == "could not connect"
    assert describe(ValueError("")) == "ValueError"
    assert len(describe(ValueError("x" * 500))) == 300


def test_the_writer_module_re_exports_the_jobs_and_errors():
    import ingest_service.jobs as jobs

    for name in ("DatabaseUnavailable", "Job", "QueueFull", "UnstorableEvents", "WriterUnavailable"):
        assert getattr(writer, name) is getattr(jobs, name)
