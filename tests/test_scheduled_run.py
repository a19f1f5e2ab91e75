"""End to end: the weekly job delivered to a real SMTP server (aiosmtpd on loopback).

The jobs are those of ``tests/fixtures/scheduled/schedule.yaml``, whose small fixture notebooks stand in for
the real ones (``scheduled/schedule.yaml`` names those). The database holds a hand-made week of events whose
KPIs are known by construction, with events on both sides of each local (Europe/Berlin) week boundary.
"""

from __future__ import annotations

import base64
import email
import io
import re
import shutil
import socket
import subprocess
import zipfile
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path

import nbformat
import psutil
import pytest
from aiosmtpd.controller import Controller

from scheduled import RunHistory, load_schedule, run_job
from scheduled.__main__ import main
from scheduled.combined import count_rendered_figures

FIXTURES = Path(__file__).parent / "fixtures" / "scheduled"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "scheduled"
RUN_DATE = date(2026, 11, 23)  # a Monday: the run reports the week 2026-11-16..22
LABEL = "2026-W47"
# Local (Europe/Berlin, CET = UTC+1) week bounds in UTC, worked out by hand.
LO, HI = datetime(2026, 11, 15, 23, 0), datetime(2026, 11, 22, 23, 0)
SUBJECT = "Weekly test report — Mon 16 Nov – Sun 22 Nov 2026 (2026-W47)"


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.envelopes.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def smtp():
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture(scope="module")
def schedule():
    return load_schedule(FIXTURES / "schedule.yaml")


@pytest.fixture(scope="module")
def weekly(tmp_path_factory, report_db, smtp, schedule):
    controller, inbox = smtp
    reports = tmp_path_factory.mktemp("reports")
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port)}
    before = len(inbox.envelopes)
    record = run_job(
        schedule.job("weekly"),
        sender=schedule.sender,
        run_date=RUN_DATE,
        reports_dir=reports,
        database_url=report_db,
        env=env,
    )
    envelopes = inbox.envelopes[before:]
    assert len(envelopes) == 1
    msg = email.message_from_bytes(envelopes[0].content, policy=policy.default)
    return {"record": record, "reports": reports, "env": env, "envelope": envelopes[0], "msg": msg}


def _events() -> list[dict]:
    """Six sessions in the week (s3 opened twice), plus two just outside it (local midnight boundaries)."""
    opened = {
        "s0": datetime(2026, 11, 15, 22, 30),  # Sun 23:30 Berlin: previous week
        "s1": datetime(2026, 11, 15, 23, 30),  # Mon 00:30 Berlin: first hour of the week
        "s2": datetime(2026, 11, 16, 10, 0),
        "s3": datetime(2026, 11, 17, 12, 0),
        "s4": datetime(2026, 11, 18, 9, 0),
        "s5": datetime(2026, 11, 20, 15, 0),
        "s6": datetime(2026, 11, 22, 22, 30),  # Sun 23:30 Berlin: last hour of the week
        "s7": datetime(2026, 11, 22, 23, 30),  # Mon 00:30 Berlin: next week
    }
    rows = [("ai_calculator_opened", sid, ts) for sid, ts in opened.items()]
    rows.append(("ai_calculator_opened", "s3", datetime(2026, 11, 17, 12, 1)))
    rows += [
        ("assessment_submitted", sid, opened[sid].replace(minute=opened[sid].minute + 5))
        for sid in ("s0", "s1", "s2", "s3", "s5", "s7")
    ]
    rows += [
        ("paid_upgrade_clicked", sid, opened[sid].replace(minute=opened[sid].minute + 9))
        for sid in ("s2", "s5", "s7")
    ]
    return [
        {
            "event_id": f"e{i}",
            "event_type": et,
            "session_id": sid,
            "timestamp": ts,
            "received_at": ts,
            "event_data": {},
            "created_at": ts,
        }
        for i, (et, sid, ts) in enumerate(rows)
    ]


#: By construction: sessions s1..s6, assessments of s1, s2, s3, s5, upgrade clicks of s2, s5.
EXPECTED_KPIS = {"Sessions": 6, "Assessments": 4, "Paid upgrade clicks": 2}


@pytest.fixture(scope="module")
def report_db(tmp_path_factory) -> str:
    import sqlalchemy as sa

    from analytics.db import upgrade
    from analytics.schema import analytics_events

    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'events.db'}"
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(analytics_events.insert(), _events())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def expected_kpis() -> dict[str, int]:
    return EXPECTED_KPIS


def _html(msg) -> str:
    return msg.get_body(("html",)).get_content()


def test_weekly_run_is_delivered_with_subject_recipients_and_status(weekly, schedule):
    record, envelope, msg = weekly["record"], weekly["envelope"], weekly["msg"]
    assert (record.status, record.delivery, record.period) == ("ok", "smtp", LABEL)
    assert [nb["status"] for nb in record.notebooks] == ["ok", "ok"]
    assert envelope.mail_from == "reports@test.local"
    assert envelope.rcpt_tos == ["ana@example.com", "bob@example.com"]
    assert msg["Subject"] == SUBJECT
    assert msg["To"] == "ana@example.com, bob@example.com"
    assert len(envelope.content) < 10_000_000


def test_html_body_shows_the_kpis_without_javascript(weekly, expected_kpis):
    body = _html(weekly["msg"])
    assert "<script" not in body.lower()
    assert "Key figures" in body
    for name, value in expected_kpis.items():
        assert re.search(rf"<th>{name}</th>\s*<td>{value}</td>", body), (name, value)
    assert expected_kpis["Sessions"] > 0


def test_each_chart_is_an_inline_image_in_the_body(weekly):
    msg = weekly["msg"]
    body = _html(msg)
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2  # one stacked bar chart (overview), one line chart (trend)
    for part in images:
        assert part.get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="cid:{part["Content-ID"].strip("<>")}"' in body
    assert 'alt="Events per day"' in body and 'alt="Assessments per day"' in body


def test_attachment_is_the_zipped_interactive_report_with_every_chart(weekly):
    msg = weekly["msg"]
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"report-weekly-{LABEL}.zip"]
    with zipfile.ZipFile(io.BytesIO(attachments[0].get_payload(decode=True))) as zf:
        assert zf.namelist() == ["report.html"]
        report = zf.read("report.html").decode()
    assert count_rendered_figures(report) == 2
    assert report.count("plotly.js v") == 1  # plotly.js inlined once for the whole report
    assert "Events per day" in report and "Assessments per day" in report
    # The per-notebook HTML reports each draw their chart too (the plotly 7 renderer pitfall).
    run_dir = weekly["reports"] / "weekly" / LABEL
    for name in ("overview", "trend"):
        assert count_rendered_figures((run_dir / f"{name}.html").read_text()) == 1


def test_run_record_is_archived_and_sources_stay_clean(weekly):
    run_dir = weekly["reports"] / "weekly" / LABEL
    injected = next(
        c.source
        for c in nbformat.read(run_dir / "overview.ipynb", as_version=4).cells
        if "injected-parameters" in c.metadata.get("tags", [])
    )
    assert 'start_date = "2026-11-16"' in injected and 'end_date = "2026-11-23"' in injected
    assert 'start_ts = "2026-11-15T23:00:00+00:00"' in injected and "database_url = " in injected
    assert "timezone" not in injected  # only the parameters the notebook declares
    for name in ("overview", "trend"):
        executed = nbformat.read(run_dir / f"{name}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
        source = nbformat.read(FIXTURES / f"{name}.ipynb", as_version=4)
        assert not any(c.get("outputs") for c in source.cells if c.cell_type == "code")
    assert (run_dir / "email.eml").exists() and (run_dir / "run.json").exists()
    [record] = RunHistory(weekly["reports"]).records("weekly")
    assert record.files == weekly["record"].files
    assert record.recipients == ["ana@example.com", "bob@example.com"]


def test_email_body_renders_in_headless_chromium(weekly, expected_kpis, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    msg = weekly["msg"]
    body = _html(msg)
    for part in msg.walk():  # resolve cid: references as a mail client does
        if part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            body = body.replace(f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = ARTIFACTS / "weekly-email-body.html"
    page.write_text(body, encoding="utf-8")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    shot = ARTIFACTS / "weekly-email-body.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium,
            *flags,
            f"--user-data-dir={tmp_path / 'p1'}",
            "--window-size=800,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dom = subprocess.run(
        [chromium, *flags, f"--user-data-dir={tmp_path / 'p2'}", "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "Key figures" in dom
    for name, value in expected_kpis.items():
        assert re.search(rf"<th>{name}</th>\s*<td>{value}</td>", dom), (name, value)
    assert dom.count("data:image/png;base64,") == 2


def test_rerun_of_the_same_period_sends_nothing_unless_forced(weekly, smtp, schedule, report_db):
    _controller, inbox = smtp
    before = len(inbox.envelopes)
    again = run_job(
        schedule.job("weekly"),
        sender=schedule.sender,
        run_date=date(2026, 11, 25),
        reports_dir=weekly["reports"],
        database_url=report_db,
        env=weekly["env"],
    )
    assert (again.status, again.delivery, again.period) == ("skipped", "none", LABEL)
    assert again.error.startswith(f"already e-mailed by run {weekly['record'].run_id} at ")
    assert len(inbox.envelopes) == before
    forced = run_job(
        schedule.job("weekly"),
        sender=schedule.sender,
        run_date=RUN_DATE,
        force=True,
        reports_dir=weekly["reports"],
        database_url=report_db,
        env=weekly["env"],
    )
    assert (forced.status, forced.delivery, forced.forced) == ("ok", "smtp", True)
    assert len(inbox.envelopes) == before + 1
    superseded = weekly["reports"] / "weekly" / f"{LABEL}.superseded-{weekly['record'].run_id}"
    assert (superseded / "overview.ipynb").exists()
    statuses = [r.status for r in RunHistory(weekly["reports"]).records("weekly", LABEL)]
    assert statuses == ["ok", "skipped", "ok"]


def test_failing_notebook_still_reports_marks_the_mail_alerts_and_exits_nonzero(
    tmp_path, smtp, report_db, monkeypatch, capsys
):
    controller, inbox = smtp
    for key, value in {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(controller.port),
        "ALERT_EMAIL_TO": "oncall@example.com",
        "ALERT_EMAIL_FROM": "alerts@test.local",
    }.items():
        monkeypatch.setenv(key, value)
    before = len(inbox.envelopes)
    code = main(
        [
            "--schedule",
            str(FIXTURES / "schedule.yaml"),
            "--reports-dir",
            str(tmp_path),
            "run",
            "broken",
            "--for-date",
            RUN_DATE.isoformat(),
            "--database-url",
            report_db,
        ]
    )
    assert code == 1
    out = capsys.readouterr()
    assert "broken 2026-W47: failed" in out.out
    report, alert = (
        email.message_from_bytes(e.content, policy=policy.default) for e in inbox.envelopes[before:]
    )
    assert report["Subject"] == (
        "[FAILED: failing, does_not_exist] Broken test report — Mon 16 Nov – Sun 22 Nov 2026 (2026-W47)"
    )
    body = _html(report)
    assert "2 of 3 parts failed" in body
    assert "RuntimeError: deliberate failure in the fixture notebook" in body
    assert "Key figures" in body  # the healthy notebook's KPIs still go out
    run_dir = tmp_path / "broken" / LABEL
    failing_html = (run_dir / "failing.html").read_text()
    assert (
        "deliberate failure in the fixture notebook" in failing_html and "before the failure" in failing_html
    )
    assert (run_dir / "failing.ipynb").exists() and not (run_dir / "does_not_exist.ipynb").exists()
    assert alert["To"] == "oncall@example.com"
    assert alert["Subject"].startswith(
        "[WARNING] scheduled_report_broken: report broken 2026-W47: failing: failed"
    )
    [record] = RunHistory(tmp_path).records("broken")
    assert (record.status, record.alert) == ("failed", "sent")
    assert [(n["name"], n["status"]) for n in record.notebooks] == [
        ("overview", "ok"),
        ("failing", "failed"),
        ("does_not_exist", "missing"),
    ]
    code = main(["--reports-dir", str(tmp_path), "history"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and lines[1].split()[1:4] == ["broken", LABEL, "failed"]


@pytest.mark.slow
def test_job_exceeding_its_timeout_is_stopped(tmp_path, schedule):
    # children of other fixtures in this pytest process (a browser, a statsd daemon) are not this job's
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    started = datetime.now(UTC)
    record = run_job(
        schedule.job("slow"), sender=schedule.sender, run_date=RUN_DATE, reports_dir=tmp_path, env={}
    )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    assert record.status == "failed" and record.delivery == "eml"
    assert record.notebooks[0]["status"] == "timeout"
    assert elapsed < 6 + 10 + 10  # timeout + grace + conversion, far below the notebook's 120 s sleep
    run_dir = tmp_path / "slow" / "2026-11-22"
    assert (run_dir / "slow.ipynb").exists() and (run_dir / "email.eml").exists()
    subject = email.message_from_bytes((run_dir / "email.eml").read_bytes(), policy=policy.default)["Subject"]
    assert subject.startswith("[FAILED: slow] Slow test report")
    assert not [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and p.is_running() and p.status() != psutil.STATUS_ZOMBIE and not _spawned_by(p, before)
    ]


def _spawned_by(proc: psutil.Process, pids: set[int]) -> bool:
    """Whether ``proc`` descends from one of ``pids`` -- e.g. a helper process that the browser tests' Chromium
    (alive for the whole session) starts whenever it likes, which is not a process the job left behind."""
    try:
        return any(parent.pid in pids for parent in proc.parents())
    except psutil.NoSuchProcess:
        return True  # gone meanwhile: left nothing behind


@pytest.mark.slow
def test_shipped_weekly_job_on_demo_data_draws_every_chart(tmp_path, demo_engine):
    """The real weekly notebooks that exist so far, on the demo data set, each chart drawn in the report."""
    import dataclasses

    from scheduled import DEFAULT_SCHEDULE

    schedule = load_schedule(DEFAULT_SCHEDULE)
    weekly = schedule.job("weekly")
    present = tuple(nb for nb in weekly.notebooks if nb.path.exists())
    if not present:
        pytest.skip("none of the weekly notebooks exists yet")
    job = dataclasses.replace(weekly, notebooks=present, recipients=("team@example.com",))
    record = run_job(
        job,
        sender=schedule.sender,
        run_date=RUN_DATE,
        reports_dir=tmp_path,
        database_url=str(demo_engine.url),
        env={},
    )
    assert [(nb["name"], nb["status"]) for nb in record.notebooks] == [(nb.name, "ok") for nb in present]
    run_dir = tmp_path / "weekly" / LABEL
    msg = email.message_from_bytes((run_dir / "email.eml").read_bytes(), policy=policy.default)
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    figures = sum(
        1
        for nb in present
        for cell in nbformat.read(run_dir / f"{nb.name}.ipynb", as_version=4).cells
        for out in cell.get("outputs", [])
        if "application/vnd.plotly.v1+json" in out.get("data", {})
    )
    assert figures > 0
    assert count_rendered_figures((run_dir / "report.html").read_text()) == figures
    assert len(images) + msg.get_body(("html",)).get_content().count("(data)</p>") == figures
    assert len((run_dir / "email.eml").read_bytes()) < 10_000_000
