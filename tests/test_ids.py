"""analytics.ids: UUID version 7 layout (RFC 9562, section 5.7) checked field by field with the uuid module."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.events import validate_event
from analytics.ids import uuid7


def test_fields_are_where_rfc_9562_puts_them():
    text = uuid7(0x0123456789AB, bytes(range(1, 11)))
    u = uuid.UUID(text)
    assert u.version == 7
    assert u.variant == uuid.RFC_4122
    assert u.int >> 80 == 0x0123456789AB  # unix_ts_ms
    # by hand: time 0123456789ab | 7 over 01 -> 71, 02 | variant 10 over 03 -> 83, 04 | 05 06 07 08 09 0a
    # (tests/js/tracker.test.js checks the tracker's uuid7 against the same vector)
    assert text == "01234567-89ab-7102-8304-05060708090a"


def test_rfc_9562_appendix_a6_example_layout():
    # RFC 9562 appendix A.6: unix_ts_ms 0x017F22E279B0 (Tuesday, February 22, 2022 2:22:22 PM GMT-05:00)
    assert uuid7(0x017F22E279B0, bytes(10)) == "017f22e2-79b0-7000-8000-000000000000"


@given(st.integers(0, 2**48 - 2), st.binary(min_size=10, max_size=10), st.binary(min_size=10, max_size=10))
def test_later_milliseconds_sort_later_as_text(ms, r1, r2):
    assert uuid7(ms, r1) < uuid7(ms + 1, r2)


def test_defaults_are_now_and_unique():
    import time

    before = time.time_ns() // 1_000_000
    ids = {uuid7() for _ in range(1000)}
    after = time.time_ns() // 1_000_000
    assert len(ids) == 1000
    assert all(before <= uuid.UUID(i).int >> 80 <= after for i in ids)


def test_bad_arguments_name_what_is_wrong():
    with pytest.raises(ValueError) as info:
        uuid7(2**48)
    assert str(info.value) == "'unix_ms' must be in [0, 2**48) (got 281474976710656)"
    with pytest.raises(ValueError) as info:
        uuid7(0, b"short")
    assert str(info.value) == "'random_bytes' must be 10 bytes long (got 5)"


def test_server_default_event_id_is_a_uuid7():
    from datetime import datetime

    e = validate_event({"event_type": "ai_calculator_opened", "session_id": "s"}, now=datetime(2026, 12, 5, 12, 0))
    assert uuid.UUID(e.event_id).version == 7
