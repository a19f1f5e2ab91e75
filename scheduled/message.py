"""The report e-mail: an HTML body readable without JavaScript, inline PNG charts, the zipped report.

Layout of the MIME tree::

    multipart/mixed
    ├── multipart/alternative
    │   ├── text/plain            (status lines and archive path)
    │   └── multipart/related
    │       ├── text/html         (KPIs, tables, <img src="cid:...">)
    │       └── image/png ...     (one per chart)
    └── application/zip           (the combined interactive report)

The message is kept under ``max_bytes`` (default 10 MB, encoded size): when it would exceed it, the
attachment is left out first (the body then names the archived file), then the images (charts become tables).
"""

from __future__ import annotations

import html
import os
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from analytics.errors import ConfigError

from .charts import figure_png, figure_table, figure_title
from .digest import NotebookDigest

__all__ = ["MAX_EMAIL_BYTES", "ReportPart", "compose_email", "send_or_write", "smtp_settings"]

MAX_EMAIL_BYTES = 10_000_000
#: Long subjects with non-ASCII characters gain a space where the default policy folds them at 78 columns;
#: RFC 5322 allows 998 per line.
_POLICY = policy.default.clone(max_line_length=998)
_STATUS_COLOUR = {"ok": "#1a7f37", "failed": "#cf222e", "timeout": "#cf222e", "missing": "#9a6700"}


@dataclass
class ReportPart:
    """One notebook's outcome as the e-mail presents it."""

    name: str
    status: str
    seconds: float
    error: str | None
    digest: NotebookDigest | None


def subject_for(title: str, period_text: str, parts: Sequence[ReportPart]) -> str:
    """``<title> — <period>``, prefixed ``[FAILED: a, b]`` when some parts did not succeed."""
    failed = [p.name for p in parts if p.status != "ok"]
    prefix = f"[FAILED: {', '.join(failed)}] " if failed else ""
    return f"{prefix}{title} — {period_text}"


def _figure_block(fig: dict, images: list[tuple[str, bytes]], with_images: bool) -> str:
    png = figure_png(fig) if with_images else None
    caption = html.escape(figure_title(fig))
    if png is not None:
        cid = make_msgid(domain="report.local")
        images.append((cid, png))
        return (
            f'<figure style="margin:12px 0"><img src="cid:{cid[1:-1]}" alt="{caption}" '
            'width="640" height="320" '
            f'style="max-width:100%;height:auto;border:1px solid #ddd"></figure>'
        )
    rows = []
    for name, pairs in figure_table(fig):
        rows.append(f'<tr><th colspan="2" style="text-align:left">{html.escape(name)}</th></tr>')
        rows += [
            f"<tr><td>{html.escape(x)}</td><td style='text-align:right'>{html.escape(y)}</td></tr>"
            for x, y in pairs
        ]
    return f"<p><b>{caption or 'Chart'}</b> (data)</p><table>{''.join(rows)}</table>"


def _body(
    title: str,
    period_text: str,
    parts: Sequence[ReportPart],
    archive: str,
    note: str | None,
    with_images: bool,
) -> tuple[str, list[tuple[str, bytes]]]:
    images: list[tuple[str, bytes]] = []
    failed = [p for p in parts if p.status != "ok"]
    out = [
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        '<body style="font-family:Arial,Helvetica,sans-serif;color:#1f2328;max-width:760px">',
        f"<h1 style='font-size:22px'>{html.escape(title)}</h1>",
        f"<p>Period: <b>{html.escape(period_text)}</b></p>",
    ]
    if failed:
        items = "".join(
            f"<li><b>{html.escape(p.name)}</b>: {html.escape(p.status)}"
            f"{' — ' + html.escape(p.error) if p.error else ''}</li>"
            for p in failed
        )
        out.append(
            f'<div style="border:2px solid #cf222e;padding:8px;margin:8px 0"><b>{len(failed)} of '
            f"{len(parts)} parts failed</b><ul>{items}</ul></div>"
        )
    kpis = [(p, block) for p in parts if p.digest for block in p.digest.kpi_html]
    promoted: str | None = None
    if not kpis and parts and parts[0].digest and parts[0].digest.table_html:
        # No cell tagged `kpis` anywhere: the first notebook's first table (the weekly report's KPI table)
        # stands in as the summary, and is not repeated in its section.
        promoted = parts[0].digest.table_html[0]
        kpis = [(parts[0], promoted)]
    if kpis:
        out.append('<h2 style="font-size:18px">Key figures</h2>')
        out += [f'<div class="kpis" style="margin:6px 0;overflow-x:auto">{block}</div>' for _, block in kpis]
    for part in parts:
        colour = _STATUS_COLOUR.get(part.status, "#1f2328")
        heading = part.digest.title if part.digest else part.name
        out.append(
            f'<h2 style="font-size:18px;border-top:1px solid #ddd;padding-top:10px">{html.escape(heading)}'
            f' <span style="color:{colour};font-size:13px">[{html.escape(part.status)}, '
            f"{part.seconds:.1f} s]</span></h2>"
        )
        if part.digest is None:
            out.append(f"<p>{html.escape(part.error or 'no output')}</p>")
            continue
        out += [
            f'<div style="overflow-x:auto;margin:6px 0">{block}</div>'
            for block in part.digest.table_html
            if block is not promoted
        ]
        out += [_figure_block(fig, images, with_images) for fig in part.digest.figures]
    if note:
        out.append(f'<p style="color:#9a6700">{html.escape(note)}</p>')
    out.append(
        f'<p style="color:#57606a;font-size:12px">Interactive report and executed notebooks: '
        f"{html.escape(archive)}</p></body></html>"
    )
    return "\n".join(out), images


def compose_email(
    *,
    title: str,
    period_text: str,
    parts: Sequence[ReportPart],
    sender: str,
    recipients: Sequence[str],
    archive: str,
    attachment: Path | None,
    max_bytes: int = MAX_EMAIL_BYTES,
) -> EmailMessage:
    """Build the report message, degrading (attachment, then images) until it fits ``max_bytes``."""
    subject = subject_for(title, period_text, parts)
    attempts = [(attachment, True, None)]
    if attachment is not None:
        attempts.append(
            (
                None,
                True,
                f"The interactive report ({attachment.stat().st_size / 1e6:.1f} MB) "
                "is too large for e-mail; it is archived with the run.",
            )
        )
    attempts.append((None, False, "Charts are shown as tables to keep this message small."))
    msg = EmailMessage(policy=_POLICY)
    for attach, with_images, note in attempts:
        body, images = _body(title, period_text, parts, archive, note, with_images)
        msg = EmailMessage(policy=_POLICY)
        msg["Subject"] = subject
        msg["From"] = sender
        msg["To"] = ", ".join(recipients)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain="report.local")
        lines = [f"{title} — {period_text}", ""]
        lines += [f"- {p.name}: {p.status}{' (' + p.error + ')' if p.error else ''}" for p in parts]
        msg.set_content("\n".join(lines + ["", f"Archive: {archive}"]))
        msg.add_alternative(body, subtype="html")
        html_part = msg.get_payload()[1]
        for n, (cid, png) in enumerate(images, start=1):
            html_part.add_related(png, maintype="image", subtype="png", cid=cid, filename=f"chart-{n}.png")
        if attach is not None:
            msg.add_attachment(
                attach.read_bytes(), maintype="application", subtype="zip", filename=attach.name
            )
        if len(msg.as_bytes()) <= max_bytes:
            return msg
    return msg


def smtp_settings(env: dict[str, str] | None = None) -> dict[str, object] | None:
    """SMTP settings from ``SMTP_HOST``, ``SMTP_PORT``, ``SMTP_STARTTLS``, ``SMTP_USER``, ``SMTP_PASSWORD``.

    Returns ``None`` when ``SMTP_HOST`` is unset (the message is then only written as ``.eml``).

    Raises
    ------
    ConfigError
        When ``SMTP_PORT`` is not an integer or only one of user and password is set.
    """
    env = dict(os.environ if env is None else env)
    host = env.get("SMTP_HOST", "").strip()
    if not host:
        return None
    starttls = env.get("SMTP_STARTTLS", "").strip().lower() in ("1", "true", "yes", "on")
    port_raw = env.get("SMTP_PORT", "587" if starttls else "25")
    if not port_raw.isdigit():
        raise ConfigError(f"SMTP_PORT must be an integer port number (got {port_raw!r})")
    user, password = env.get("SMTP_USER") or None, env.get("SMTP_PASSWORD") or None
    if (user is None) != (password is None):
        raise ConfigError("SMTP_USER and SMTP_PASSWORD must be set together (got only one of them)")
    return {"host": host, "port": int(port_raw), "starttls": starttls, "user": user, "password": password}


def send_or_write(msg: EmailMessage, eml_path: Path, settings: dict[str, object] | None) -> str:
    """Write the message to ``eml_path`` (always, as the record) and send it when SMTP is configured.

    Returns ``"smtp"`` when sent, ``"eml"`` when only written. SMTP errors propagate.
    """
    eml_path.write_bytes(msg.as_bytes())
    if settings is None:
        return "eml"
    with smtplib.SMTP(str(settings["host"]), int(settings["port"]), timeout=60) as smtp:  # type: ignore[arg-type]
        if settings["starttls"]:
            smtp.starttls(context=ssl.create_default_context())
        if settings["user"]:
            smtp.login(str(settings["user"]), str(settings["password"]))
        smtp.send_message(msg)
    return "smtp"
