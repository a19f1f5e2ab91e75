"""Validation: one test per rejection rule, with the exact field, code and message."""

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.errors import ValidationError
from analytics.events import CATALOGUE, format_duration, validate_batch, validate_event

NOW = datetime(2026, 11, 25, 12, 0, 0)


def ok(event_type="assessment_submitted", **data):
    base = {
        "assessment_submitted": {"job_title": "Software Engineer", "industry": "Technology", "risk_level": "low"},
        "calculator_step_completed": {"step": 1, "seconds_on_step": 45.2},
        "paid_upgrade_clicked": {"plan": "basic", "price": 49.99},
        "ai_calculator_opened": {},
    }[event_type]
    return {"event_type": event_type, "session_id": "s1", "event_data": {**base, **data}}


def errors_of(raw, **kw):
    with pytest.raises(ValidationError) as info:
        validate_event(raw, now=NOW, **kw)
    return [(e.field, e.code, e.message) for e in info.value.errors]


def test_valid_event_is_normalised():
    e = validate_event({**ok(), "timestamp": "2026-11-25T11:59:00+01:00", "event_id": "abc", "user_id": "u1"}, now=NOW)
    assert (e.event_type, e.session_id, e.user_id, e.event_id) == ("assessment_submitted", "s1", "u1", "abc")
    assert e.timestamp == datetime(2026, 11, 25, 10, 59, 0)
    assert e.received_at == NOW


def test_defaults_timestamp_and_event_id():
    e = validate_event(ok(), now=NOW)
    assert e.timestamp == NOW
    assert len(e.event_id) == 36  # a UUID version 7 (analytics.ids)


def test_epoch_timestamp():
    assert validate_event({**ok(), "timestamp": 1795608000}, now=NOW).timestamp == datetime(2026, 11, 25, 12, 0)


def test_seed_events_are_in_the_catalogue():
    for name in ("ai_calculator_opened", "calculator_step_completed", "assessment_submitted",
                 "conversion_offer_viewed", "paid_upgrade_clicked"):
        assert name in CATALOGUE


def test_unknown_event_type():
    assert errors_of({"event_type": "page_view", "session_id": "s"}) == [
        ("event_type", "unknown_event_type", "'event_type' 'page_view' is not a known event type")
    ]


def test_missing_required_envelope_fields():
    assert errors_of({}) == [
        ("event_type", "required", "'event_type' is required"),
        ("session_id", "required", "'session_id' is required"),
    ]


def test_missing_required_data_field():
    raw = ok()
    del raw["event_data"]["industry"]
    assert errors_of(raw) == [("event_data.industry", "required", "'event_data.industry' is required")]


def test_wrong_types():
    raw = {**ok("calculator_step_completed", step="1", seconds_on_step=True), "user_id": 7}
    assert errors_of(raw) == [
        ("user_id", "type", "'user_id' must be a string (got int)"),
        ("event_data.step", "type", "'event_data.step' must be an integer (got str)"),
        ("event_data.seconds_on_step", "type", "'event_data.seconds_on_step' must be a number (got bool)"),
    ]


def test_event_data_must_be_object():
    assert errors_of({**ok(), "event_data": [1]}) == [
        ("event_data", "type", "'event_data' must be an object (got list)")
    ]


def test_over_long_strings():
    raw = {**ok(job_title="x" * 201), "session_id": "s" * 101}
    assert errors_of(raw) == [
        ("session_id", "too_long", "'session_id' must be at most 100 characters (got 101)"),
        ("event_data.job_title", "too_long", "'event_data.job_title' must be at most 200 characters (got 201)"),
    ]


def test_over_long_extra_string():
    assert errors_of(ok(note="y" * 501)) == [
        ("event_data.note", "too_long", "'event_data.note' must be at most 500 characters (got 501)")
    ]


def test_timestamp_far_in_future():
    raw = {**ok(), "timestamp": (NOW + timedelta(minutes=6)).isoformat() + "Z"}
    assert errors_of(raw) == [
        ("timestamp", "future_timestamp",
         "'timestamp' must not be more than 5 minutes ahead of the server's time "
         "(got 2026-11-25T12:06:00Z, server 2026-11-25T12:00:00Z)")
    ]


def test_timestamp_slightly_ahead_is_fine():
    raw = {**ok(), "timestamp": (NOW + timedelta(minutes=4)).isoformat()}
    assert validate_event(raw, now=NOW).timestamp == NOW + timedelta(minutes=4)


def test_timestamp_too_old_when_window_set():
    raw = {**ok(), "timestamp": "2026-11-17T12:00:00Z"}
    assert errors_of(raw, max_age=timedelta(days=7)) == [
        ("timestamp", "too_old",
         "'timestamp' must not be older than 7 days (got 2026-11-17T12:00:00Z, server 2026-11-25T12:00:00Z)")
    ]


def test_unparseable_timestamp():
    [(field, code, message)] = errors_of({**ok(), "timestamp": "yesterday"})
    assert (field, code) == ("timestamp", "type")
    assert message.startswith("'timestamp' must be an ISO 8601 time or epoch seconds (got 'yesterday'")


def test_epoch_milliseconds_are_refused_with_a_hint():
    ms = 1_764_072_000_000  # 2025-11-25T12:00:00Z in milliseconds (JavaScript's Date.now())
    [(field, code, message)] = errors_of({**ok(), "timestamp": ms})
    assert (field, code, message) == (
        "timestamp", "type",
        "'timestamp' must be an ISO 8601 time or epoch seconds "
        "(got 1764072000000: epoch seconds expected; 1.76407e+12 looks like milliseconds (divide by 1000))",
    )  # fmt: skip
    assert validate_event({**ok(), "timestamp": ms / 1000}, now=NOW).timestamp == datetime(2025, 11, 25, 12, 0, 0)


@pytest.mark.parametrize(("td", "text"), [
    (timedelta(days=7), "7 days"), (timedelta(minutes=5), "5 minutes"), (timedelta(days=1, hours=12), "1 day 12 hours"),
    (timedelta(seconds=30), "30 seconds"), (timedelta(hours=1, seconds=1), "1 hour 1 second"),
    (timedelta(0), "0 seconds"),
])  # fmt: skip
def test_format_duration(td, text):
    assert format_duration(td) == text


@pytest.mark.parametrize("name", ["session_id", "user_id", "event_id"])
def test_ids_must_be_printable_and_not_blank(name):
    base = ok()
    assert errors_of({**base, name: "a\nb"}) == [
        (name, "invalid_characters",
         f"'{name}' must not contain control, separator or invisible characters (got 'a\\nb')")
    ]  # fmt: skip
    assert errors_of({**base, name: "a\u200bb"}) == [
        (name, "invalid_characters",
         f"'{name}' must not contain control, separator or invisible characters (got 'a\\u200bb')")
    ]  # fmt: skip
    assert errors_of({**base, name: "   "}) == [(name, "blank", f"'{name}' must not be blank (got '   ')")]
    # printable ids with spaces inside, non-ASCII letters and symbols stay valid
    assert getattr(validate_event({**base, name: " Zoë 42 ✓"}, now=NOW), name) == " Zoë 42 ✓"


def test_epoch_seconds_as_text_are_refused_with_a_hint():
    [(field, code, message)] = errors_of({**ok(), "timestamp": "1764072000"})
    assert (field, code, message) == (
        "timestamp", "type",
        "'timestamp' must be an ISO 8601 time or epoch seconds (got '1764072000': epoch seconds must be a JSON "
        "number, not a string)",
    )  # fmt: skip
    assert validate_event({**ok(), "timestamp": "20261125"}, now=NOW).timestamp == datetime(2026, 11, 25)  # ISO basic


def test_non_finite_numbers():
    assert errors_of(ok("paid_upgrade_clicked", price=float("inf"), extra={"x": float("nan")})) == [
        ("event_data.price", "not_finite", "'event_data.price' must be a finite number (got inf)"),
        ("event_data.extra.x", "not_finite", "'event_data.extra.x' must be a finite number"),
    ]


def test_out_of_range_and_choice():
    assert errors_of(ok("calculator_step_completed", step=0, seconds_on_step=-1)) == [
        ("event_data.step", "out_of_range", "'event_data.step' must be >= 1 (got 0)"),
        ("event_data.seconds_on_step", "out_of_range", "'event_data.seconds_on_step' must be >= 0 (got -1)"),
    ]
    assert errors_of(ok(risk_level="extreme")) == [
        ("event_data.risk_level", "invalid_choice",
         "'event_data.risk_level' must be one of low, medium, high (got 'extreme')")
    ]


def test_nesting_depth():
    assert errors_of(ok(deep={"a": {"b": {"c": {"d": {"e": 1}}}}})) == [
        ("event_data", "too_deep", "'event_data' must be nested at most 5 deep (got 6)")
    ]


def test_not_an_object():
    assert errors_of([1, 2]) == [("", "type", "an event must be a JSON object (got list)")]


def test_batch_separates_valid_from_rejected():
    valid, rejected = validate_batch([ok(), {"event_type": "nope", "session_id": "s"}, ok()], now=NOW)
    assert [i for i, _ in valid] == [0, 2]
    assert [(i, [e.code for e in errs]) for i, errs in rejected] == [(1, ["unknown_event_type"])]


# --- the fast path agrees with the full check -------------------------------------------------------------------
_NOW = datetime(2026, 11, 25, 12, 0, 0)
_values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 150), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "high", "mobile", "us", "a" * 101, "b" * 201, "c" * 501]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.just("k"), st.integers(), max_size=1),
)  # fmt: skip
_KEYS = ["session_id", "user_id", "event_id", "timestamp", "event_data"]


@st.composite
def _raw_events(draw):
    """Mostly valid events (the fast path's case), each with 0-2 fields replaced by an edge value."""
    step = draw(st.one_of(st.integers(1, 20), st.sampled_from([3.0, 2.5, 0, 21, True])))
    data = {"step": step, "seconds_on_step": draw(st.one_of(st.floats(0, 1e4), st.integers(0, 10)))}
    data.update(draw(st.dictionaries(st.sampled_from(["country", "device", "source", "extra", "risk_level"]),
                                     st.sampled_from(["us", "GB", "mobile", "tv", "google", "x" * 501]),
                                     max_size=3)))  # fmt: skip
    raw = {"event_type": draw(st.sampled_from(["calculator_step_completed", "ai_calculator_opened"])),
           "session_id": draw(st.sampled_from(["s1", "s" * 100])), "user_id": draw(st.sampled_from([None, "", "u1"])),
           "event_id": draw(st.sampled_from([None, "", "e1", "e" * 64])),
           "timestamp": draw(st.sampled_from([None, "2026-11-25T11:00:00Z", 1795003200.5])), "event_data": data}
    for key in draw(st.lists(st.sampled_from(_KEYS + ["event_type"]), max_size=2)):
        raw[key] = draw(_values if key != "timestamp" else st.one_of(_values, st.sampled_from(
            ["2026-11-25T12:10:00Z", "2026-11-01T00:00:00Z", "garbage"])))  # fmt: skip
    if draw(st.booleans()):
        del raw[draw(st.sampled_from(_KEYS))]
    return raw


def _outcome(raw, monkeypatch=None):
    try:
        e = validate_event(raw, now=_NOW, max_age=timedelta(days=7))
    except ValidationError as exc:
        return [(f.field, f.code) for f in exc.errors]
    return (e.event_type, e.session_id, e.user_id, e.timestamp, e.event_id if raw.get("event_id") else None,
            e.event_data, e.received_at)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_raw_events())
def test_fast_path_gives_what_the_full_check_gives(raw, monkeypatch):
    import analytics.events as events

    fast = _outcome(raw)
    with monkeypatch.context() as m:
        m.setattr(events, "_clean_event", lambda *a: None)
        full = _outcome(raw)
    assert fast == full
