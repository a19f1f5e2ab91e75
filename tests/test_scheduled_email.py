"""E-mail composition without running notebooks: subject marking, size budget, SMTP settings, chart images."""

from __future__ import annotations

import base64
import email
from email import policy

import numpy as np
import pytest

from analytics.errors import ConfigError
from scheduled.charts import decode_array, figure_png, figure_table
from scheduled.digest import NotebookDigest
from scheduled.message import ReportPart, compose_email, smtp_settings, subject_for

BAR = {
    "data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2], "name": "n"}],
    "layout": {"title": {"text": "Bars"}},
}
HEATMAP_LESS = {
    "data": [{"type": "pie", "labels": ["x", "y"], "values": [3, 1]}],
    "layout": {"title": "Split"},
}


def _parts() -> list[ReportPart]:
    ok = NotebookDigest(
        name="kpis",
        title="KPIs",
        kpi_html=["<table><tr><th>Sessions</th><td>42</td></tr></table>"],
        figures=[BAR, HEATMAP_LESS],
    )
    return [ReportPart("kpis", "ok", 1.0, None, ok), ReportPart("ltv", "timeout", 9.0, "stopped", None)]


def test_subject_names_the_failed_parts():
    assert subject_for("Weekly", "W1", _parts()) == "[FAILED: ltv] Weekly — W1"
    assert subject_for("Weekly", "W1", _parts()[:1]) == "Weekly — W1"


def test_message_fits_with_attachment_images_and_a_table_for_unsupported_charts(tmp_path):
    attachment = tmp_path / "report.zip"
    attachment.write_bytes(b"x" * 1000)
    msg = compose_email(
        title="Weekly",
        period_text="W1",
        parts=_parts(),
        sender="a@b.c",
        recipients=["d@e.f"],
        archive="/archive",
        attachment=attachment,
    )
    body = msg.get_body(("html",)).get_content()
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
        "application/zip",
    ]
    assert "<th>Sessions</th><td>42</td>" in body
    assert "<b>Split</b> (data)" in body and "<td>x</td><td style='text-align:right'>3</td>" in body
    assert "1 of 2 parts failed" in body and "<b>ltv</b>: timeout — stopped" in body


def test_over_budget_message_drops_the_attachment_then_the_images(tmp_path):
    attachment = tmp_path / "report.zip"
    attachment.write_bytes(np.random.default_rng(0).bytes(200_000))
    kwargs = dict(
        title="W",
        period_text="W1",
        parts=_parts(),
        sender="a@b.c",
        recipients=["d@e.f"],
        archive="/archive",
        attachment=attachment,
    )
    full = len(compose_email(**kwargs).as_bytes())
    no_attachment = compose_email(**kwargs, max_bytes=full - 1000)
    assert "application/zip" not in [p.get_content_type() for p in no_attachment.walk()]
    assert (
        "The interactive report (0.2 MB) is too large for e-mail"
        in no_attachment.get_body(("html",)).get_content()
    )
    size = len(no_attachment.as_bytes())
    no_images = compose_email(**kwargs, max_bytes=size - 1000)
    body = no_images.get_body(("html",)).get_content()
    assert "image/png" not in [p.get_content_type() for p in no_images.walk()]
    assert "<b>Bars</b> (data)" in body and "Charts are shown as tables" in body
    assert len(no_images.as_bytes()) <= size - 1000


def test_smtp_settings_from_environment():
    assert smtp_settings({}) is None
    assert smtp_settings(
        {"SMTP_HOST": "mx", "SMTP_STARTTLS": "true", "SMTP_USER": "u", "SMTP_PASSWORD": "p"}
    ) == {"host": "mx", "port": 587, "starttls": True, "user": "u", "password": "p"}
    assert smtp_settings({"SMTP_HOST": "mx"})["port"] == 25
    with pytest.raises(ConfigError) as err:
        smtp_settings({"SMTP_HOST": "mx", "SMTP_PORT": "smtp"})
    assert str(err.value) == "SMTP_PORT must be an integer port number (got 'smtp')"
    with pytest.raises(ConfigError) as err:
        smtp_settings({"SMTP_HOST": "mx", "SMTP_USER": "u"})
    assert str(err.value) == "SMTP_USER and SMTP_PASSWORD must be set together (got only one of them)"


def test_plotly_typed_arrays_are_decoded():
    values = np.array([[1.5, 2.5, 3.5], [4.0, 5.0, 6.0]])
    encoded = {"dtype": "f8", "bdata": base64.b64encode(values.tobytes()).decode(), "shape": "2, 3"}
    assert decode_array(encoded) == values.tolist()
    assert decode_array(
        {"dtype": "i2", "bdata": base64.b64encode(np.array([7, -2], "<i2").tobytes()).decode()}
    ) == [7, -2]


def test_supported_figures_become_png_and_others_tables():
    heat = {"data": [{"type": "heatmap", "z": [[1, 2], [3, 4]], "x": ["a", "b"], "y": ["c", "d"]}]}
    line = {"data": [{"type": "scatter", "x": ["2026-01-01", "2026-01-02"], "y": [1, 3], "mode": "lines"}]}
    funnel = {"data": [{"type": "funnel", "y": ["opened", "paid"], "x": [100, 7]}]}
    for fig in (BAR, heat, line, funnel):
        assert figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure_png(HEATMAP_LESS) is None
    assert figure_table(HEATMAP_LESS) == [("trace 1", [("x", "3"), ("y", "1")])]


def test_eml_round_trip_keeps_the_body(tmp_path):
    msg = compose_email(
        title="W",
        period_text="W1",
        parts=_parts()[:1],
        sender="a@b.c",
        recipients=["d@e.f"],
        archive="/archive",
        attachment=None,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == "W — W1"
    assert "<th>Sessions</th><td>42</td>" in parsed.get_body(("html",)).get_content()


def test_long_non_ascii_subject_survives_transport_unchanged():
    parts = [ReportPart(f"notebook_number_{i}", "failed", 0.0, "x", None) for i in range(6)]
    msg = compose_email(
        title="AI Job Impact Calculator — weekly report",
        period_text="Mon 16 Nov – Sun 22 Nov",
        parts=parts,
        sender="a@b.c",
        recipients=["d@e.f"],
        archive="/a",
        attachment=None,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed["Subject"] == (
        "[FAILED: " + ", ".join(p.name for p in parts) + "] AI Job Impact Calculator — weekly report — "
        "Mon 16 Nov – Sun 22 Nov"
    )


def test_unreachable_smtp_server_raises_after_writing_the_eml(tmp_path):
    import socket

    from scheduled.message import send_or_write

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    msg = compose_email(
        title="W",
        period_text="W1",
        parts=_parts()[:1],
        sender="a@b.c",
        recipients=["d@e.f"],
        archive="/a",
        attachment=None,
    )
    eml = tmp_path / "email.eml"
    with pytest.raises(ConnectionRefusedError):
        send_or_write(msg, eml, smtp_settings({"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}))
    assert email.message_from_bytes(eml.read_bytes(), policy=policy.default)["Subject"] == "W — W1"
    assert send_or_write(msg, tmp_path / "offline.eml", None) == "eml"


def test_without_kpis_tag_the_first_notebooks_first_table_is_the_summary():
    first = NotebookDigest(
        name="weekly_report",
        title="Weekly report",
        table_html=["<table><tr><td>KPI-T1</td></tr></table>", "<table><tr><td>T2</td></tr></table>"],
    )
    other = NotebookDigest(name="funnel", title="Funnel", table_html=["<table><tr><td>F1</td></tr></table>"])
    parts = [
        ReportPart("weekly_report", "ok", 1.0, None, first),
        ReportPart("funnel", "ok", 1.0, None, other),
    ]
    body = (
        compose_email(
            title="W",
            period_text="W1",
            parts=parts,
            sender="a@b.c",
            recipients=["d@e.f"],
            archive="/a",
            attachment=None,
        )
        .get_body(("html",))
        .get_content()
    )
    assert body.count("KPI-T1") == 1
    assert body.index("Key figures") < body.index("KPI-T1") < body.index("Weekly report") < body.index("T2")
    assert body.index("Funnel") < body.index("F1")
