"""The calculator page and tracker.js in real headless Chromium against the real sidecar (gunicorn + SQLite).

Screenshots of each step go to test-artifacts/browser/<test>/.
"""

from __future__ import annotations

import json
import time
import urllib.request
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from analytics.schema import ab_assignments, analytics_events, assessments, event_keys

pytestmark = pytest.mark.slow

PAGE = "/static/ai-job-impact-calculator.html"
UTM = "utm_source=linkedin&utm_medium=social&utm_campaign=career_pivot"
OFFERS = [
    {"name": "control", "price": 49.99, "plan": "basic", "features": ["Full report"]},
    {"name": "premium", "price": 79.99, "plan": "premium", "features": ["Full report", "90-day plan"]},
    {"name": "pro", "price": 99.99, "plan": "pro", "features": ["Full report", "90-day plan", "Coaching"]},
]
SEED_SEQUENCE = [
    "ai_calculator_opened", "calculator_step_completed", "calculator_step_completed", "calculator_step_completed",
    "assessment_submitted", "conversion_offer_viewed", "paid_upgrade_clicked",
]  # fmt: skip
CONNECTION_NOISE = ("Failed to load resource", "ERR_CONNECTION_REFUSED")


def _create_tests(engine) -> None:
    from analytics.experiments import ABTesting

    ab = ABTesting(engine)
    ab.create_conversion_offer_test("Offer test", OFFERS, unit="session", test_id="conversion_offer_test")
    ab.start_test("conversion_offer_test")
    ab.create_urgency_messaging_test(
        "Urgency test", [{"name": "control", "message": ""}, {"name": "scarcity", "message": "Only 5 places left"}],
        unit="session", test_id="urgency_message_test",
    )  # fmt: skip
    ab.start_test("urgency_message_test")


def _events(engine, session_id: str | None = None) -> list[dict]:
    ev = analytics_events
    stmt = select(ev.c.event_id, ev.c.event_type, ev.c.session_id, ev.c.source, ev.c.medium, ev.c.campaign,
                  ev.c.event_data).order_by(ev.c.timestamp, ev.c.id)  # fmt: skip
    if session_id:
        stmt = stmt.where(ev.c.session_id == session_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _wait(predicate, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _shot(page, artifacts, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _visible(page, step: int) -> None:
    page.wait_for_selector(f'.step[data-step="{step}"]:not([hidden])')


def _step1(page, artifacts=None, prefix=""):
    _visible(page, 1)
    if artifacts:
        _shot(page, artifacts, f"{prefix}1-job")
    page.fill("#job_title", "Software Engineer")
    page.select_option("#industry", "Technology")
    page.click("button[data-next='2']")
    _visible(page, 2)


def _step2(page, artifacts=None, prefix=""):
    if artifacts:
        _shot(page, artifacts, f"{prefix}2-tasks")
    page.check("input[name=routine][value='1']")
    page.check("input[name=information][value='2']")
    page.check("input[name=people][value='1']")
    page.click("button[data-next='3']")
    _visible(page, 3)


def _step3(page, artifacts=None, prefix=""):
    if artifacts:
        _shot(page, artifacts, f"{prefix}3-context")
    page.check("input[name=physical][value='0']")
    page.select_option("#experience_level", "mid")
    page.select_option("#company_size", "1000+")
    page.click("#submit")
    page.wait_for_selector("#offer:not([hidden])")
    if artifacts:
        _shot(page, artifacts, f"{prefix}4-result-offer")


def _drained(page) -> bool:
    return page.evaluate("window.AICalcTracker.get().queued().length === 0")


def test_walking_the_calculator_stores_exactly_the_expected_events(browser, sidecar, db, artifacts, watch):
    _create_tests(db)
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    console = watch(page)
    url = f"{sidecar.base}{PAGE}?{UTM}"
    page.goto(url)
    _step1(page, artifacts)
    _step2(page, artifacts)
    _step3(page, artifacts)
    assert page.text_content("#risk-level") == "medium" and page.text_content("#risk-score") == "62 / 100"
    page.click("#upgrade")
    page.wait_for_selector("#upgrade-thanks:not([hidden])")
    _shot(page, artifacts, "5-upgrade-clicked")
    _wait(lambda: _drained(page), what="the tracker's queue to drain")
    sid = page.evaluate("window.AICalcTracker.get().sessionId()")
    variant = page.get_attribute("#offer", "data-variant")
    context.close()

    rows = _events(db)
    assert {r["session_id"] for r in rows} == {sid}
    seed = [r for r in rows if r["event_type"] in SEED_SEQUENCE]
    assert [r["event_type"] for r in seed] == SEED_SEQUENCE
    timing = sorted((r["event_type"], r["event_data"].get("step")) for r in rows if r not in seed)
    assert timing == [("page_load_timing", None)] + [("step_load_timing", s) for s in (1, 2, 3, 4)]
    assert len(rows) == 12  # nothing else: no client_error, no duplicate
    assert all((r["source"], r["medium"], r["campaign"]) == ("linkedin", "social", "career_pivot") for r in rows)

    opened = seed[0]["event_data"]
    assert (opened["landing_page"], opened["device"], "referrer" in opened) == (url, "desktop", False)
    assert [r["event_data"]["step"] for r in seed[1:4]] == [1, 2, 3]
    assert all(r["event_data"]["seconds_on_step"] >= 0 for r in seed[1:4])
    submitted = seed[4]["event_data"]
    assert {k: submitted[k] for k in ("job_title", "industry", "risk_level", "risk_score", "algorithm",
                                      "experience_level", "company_size")} == {
        "job_title": "Software Engineer", "industry": "Technology", "risk_level": "medium", "risk_score": 62,
        "algorithm": "task_mix_v1", "experience_level": "mid", "company_size": "1000+"}
    offer = next(o for o in OFFERS if o["name"] == variant)
    viewed, clicked = seed[5]["event_data"], seed[6]["event_data"]
    assert (viewed["offer"], viewed["price"], viewed["test_id"], viewed["variant"]) == (
        offer["plan"], offer["price"], "conversion_offer_test", variant)
    assert (clicked["plan"], clicked["price"], clicked["currency"], clicked["variant"]) == (
        offer["plan"], offer["price"], "USD", variant)
    with db.connect() as conn:
        stored = conn.execute(select(assessments.c.job_title, assessments.c.risk_level, assessments.c.session_id)).all()
    assert [tuple(r) for r in stored] == [("Software Engineer", "medium", sid)]
    assert console.errors() == []


def _variant_of(engine, test_id: str, unit: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(ab_assignments.c.variant).where(
            ab_assignments.c.test_id == test_id, ab_assignments.c.unit_id == unit)).scalar()


def _sids_with_distinct_variants(sidecar) -> list[str]:
    """Two session ids the sidecar puts in different offer variants (asked through the endpoint itself)."""
    seen: dict[str, str] = {}
    for i in range(200):
        sid = f"visitor-{i:03d}"
        url = f"{sidecar.base}/api/analytics/ab-testing/conversion_offer_test/variant?session_id={quote(sid)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            variant = json.loads(r.read())["variant"]
        seen.setdefault(variant, sid)
        if len(seen) == 2:
            return list(seen.values())
    raise AssertionError("every unit got the same variant")


def test_offer_matches_the_assigned_variant_and_survives_reload(browser, sidecar, db, artifacts, watch):
    _create_tests(db)
    shown = {}
    for sid in _sids_with_distinct_variants(sidecar):
        context = browser.new_context(viewport={"width": 1000, "height": 900})
        context.add_init_script(f"localStorage.setItem('aic_sid', {json.dumps(sid)});")
        page = context.new_page()
        console = watch(page)
        for visit in ("first", "reload"):
            if visit == "first":
                page.goto(f"{sidecar.base}{PAGE}?{UTM}")
            else:
                page.reload()
            _step1(page)
            _step2(page)
            _step3(page, artifacts, prefix=f"{sid}-{visit}-")
            assert page.evaluate("window.AICalcTracker.get().sessionId()") == sid
            recorded = _wait(lambda s=sid: _variant_of(db, "conversion_offer_test", s), what="the exposure row")
            offer = next(o for o in OFFERS if o["name"] == recorded)
            assert page.get_attribute("#offer", "data-variant") == recorded
            assert page.inner_text("#offer-price") == f"${offer['price']:.2f}"
            assert page.inner_text("#offer-features").splitlines() == offer["features"]
            # exposures are buffered by the sidecar for up to 0.2 s: wait for this one too
            urgency = _wait(lambda s=sid: _variant_of(db, "urgency_message_test", s), what="the urgency exposure row")
            expected_urgency = "Only 5 places left" if urgency == "scarcity" else ""
            assert page.inner_text("#offer-urgency") == expected_urgency
            shown.setdefault(sid, []).append((recorded, page.inner_text("#offer-price")))
        _wait(lambda p=page: _drained(p), what="the tracker's queue to drain")
        assert console.errors() == []
        context.close()
    assert all(a == b for a, b in shown.values())  # the same offer after the reload
    assert len({v[0][0] for v in shown.values()}) == 2  # and the two visitors really saw different variants
    viewed = [r for r in _events(db) if r["event_type"] == "conversion_offer_viewed"]
    assert sorted((r["session_id"], r["event_data"]["variant"]) for r in viewed) == sorted(
        (sid, v[0]) for sid, vs in shown.items() for v in vs)


def test_sidecar_down_events_queue_in_localstorage_and_arrive_once(browser, sidecar, db, artifacts, watch):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    context.add_init_script("window.AICalcTrackerConfig = {flushInterval: 100, backoffBase: 200, backoffMax: 800};")
    page = context.new_page()
    console = watch(page)
    page.goto(f"{sidecar.base}{PAGE}?{UTM}")
    _visible(page, 1)
    _wait(lambda: _drained(page) and len(_events(db)) >= 3, what="the landing events")
    before = {r["event_id"] for r in _events(db)}

    sidecar.stop()
    _step1(page, artifacts, prefix="down-")
    _step2(page, artifacts, prefix="down-")
    _wait(lambda: page.evaluate("window.AICalcTracker.get().stats().retries") >= 3, what="failed retries")
    queued = page.evaluate("window.AICalcTracker.get().queued().map(e => e.event_id)")
    stored = page.evaluate("JSON.parse(localStorage.getItem('aic_queue')).events.map(e => e.event_id)")
    assert len(queued) >= 4 and sorted(stored) == sorted(queued)
    assert page.evaluate("window.AICalcTracker.get().options.maxQueue") == 500  # bounded
    assert not (set(queued) & before)

    sidecar.start()
    _wait(lambda: _drained(page), timeout=20, what="delivery after the sidecar came back")
    assert page.evaluate("localStorage.getItem('aic_queue')") is None
    rows = _events(db)
    ids = [r["event_id"] for r in rows]
    assert len(ids) == len(set(ids)) and set(queued) <= set(ids)
    assert set(ids) == before | set(queued)
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(event_keys)).scalar() == len(ids)
    seed = [r["event_type"] for r in rows if r["event_type"] in SEED_SEQUENCE]
    assert seed == SEED_SEQUENCE[:3]
    _shot(page, artifacts, "up-again")
    assert console.errors(ignore=CONNECTION_NOISE) == []
    context.close()


def test_closing_the_page_mid_flow_delivers_through_sendbeacon(browser, sidecar, db, artifacts, watch):
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    # No timed flush: only the page-hide beacon can deliver these events.
    context.add_init_script("window.AICalcTrackerConfig = {flushInterval: 600000};")
    page = context.new_page()
    console = watch(page)
    page.goto(f"{sidecar.base}{PAGE}?{UTM}")
    _step1(page, artifacts, prefix="beacon-")
    _step2(page, artifacts, prefix="beacon-")
    page.wait_for_function("window.AICalcTracker.get().queued().some(e => e.event_type === 'step_load_timing'"
                           " && e.event_data.step === 3)")
    queued = page.evaluate("window.AICalcTracker.get().queued().map(e => [e.event_id, e.event_type])")
    assert [t for _, t in queued if t in SEED_SEQUENCE] == SEED_SEQUENCE[:3]
    assert _events(db) == []
    errors = console.errors()
    page.close()
    rows = _wait(lambda: (lambda r: r if len(r) >= len(queued) else None)(_events(db)), timeout=15,
                 what="the beacon's events")
    assert sorted(r["event_id"] for r in rows) == sorted(i for i, _ in queued)
    assert errors == []
    context.close()


def test_a_visitor_outside_every_test_sees_the_control_and_is_not_tagged_as_its_exposure(
        browser, sidecar, db, artifacts, watch):
    # no test exists (as before a test starts, or after it stopped): the sidecar answers the control, in_test false
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    console = watch(page)
    page.goto(f"{sidecar.base}{PAGE}")
    _step1(page)
    _step2(page)
    _step3(page, artifacts, "no-test-")
    assert (page.get_attribute("#offer", "data-variant"), page.get_attribute("#offer", "data-in-test")) == (
        "control", "false")
    page.click("#upgrade")
    page.wait_for_selector("#upgrade-thanks:not([hidden])")
    _wait(lambda: _drained(page), what="the tracker's queue to drain")
    context.close()
    rows = {r["event_type"]: r["event_data"] for r in _events(db)}
    viewed, clicked = rows["conversion_offer_viewed"], rows["paid_upgrade_clicked"]
    assert (viewed["offer"], viewed["price"], clicked["plan"], clicked["price"]) == ("basic", 49.99, "basic", 49.99)
    assert not {"test_id", "variant"} & (viewed.keys() | clicked.keys())  # not counted as the control's exposure
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ab_assignments)).scalar() == 0
    assert console.errors() == []
