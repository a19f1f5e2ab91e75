"""Job definitions: load and validate the schedule file (``scheduled/schedule.yaml``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter

from analytics.errors import ConfigError, InvalidParameterError, NotFoundError

__all__ = ["DEFAULT_SCHEDULE", "Job", "NotebookSpec", "Schedule", "load_schedule", "parse_duration"]

DEFAULT_SCHEDULE = Path(__file__).with_name("schedule.yaml")
PERIOD_KINDS = ("previous_day", "previous_week", "previous_month")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_JOB_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def parse_duration(value: object, name: str = "timeout") -> float:
    """Seconds from ``90``, ``"90s"``, ``"20m"`` or ``"1.5h"``.

    Raises
    ------
    InvalidParameterError
        When the value is not a positive duration.
    """
    if isinstance(value, bool):
        match = None
    elif isinstance(value, int | float):
        seconds = float(value)
        match = True
    else:
        match = _DURATION.match(str(value))
        if match:
            unit = {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
            seconds = float(match.group(1)) * unit
    if not match or not seconds > 0:
        raise InvalidParameterError(
            name, f"'{name}' must be a positive duration such as 90, '90s', '20m' or '1h' (got {value!r})"
        )
    return seconds


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of a job: its source path and its fixed papermill parameters."""

    path: Path
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """File stem, used for the outputs (``<name>.ipynb``, ``<name>.html``)."""
        return self.path.stem


@dataclass(frozen=True)
class Job:
    """A scheduled report.

    Attributes
    ----------
    name:
        Identifier used on the command line and in ``reports/<name>/<period>/``.
    title:
        Human title, used in the e-mail subject.
    cron:
        Five-field cron expression, evaluated in ``timezone``.
    timezone:
        IANA zone name; the reported period is made of calendar dates in this zone.
    period:
        One of ``previous_day``, ``previous_week`` (Monday–Sunday) or ``previous_month``.
    notebooks:
        The notebooks run (in parallel) for each run.
    recipients:
        E-mail addresses of the report.
    timeout:
        Seconds the whole run may take; notebooks still running then are stopped.
    """

    name: str
    title: str
    cron: str
    timezone: str
    period: str
    notebooks: tuple[NotebookSpec, ...]
    recipients: tuple[str, ...]
    timeout: float

    @property
    def tz(self) -> ZoneInfo:
        """The job's :class:`zoneinfo.ZoneInfo`."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Schedule:
    """All jobs of a schedule file, by name."""

    jobs: dict[str, Job]
    sender: str
    source: Path

    def job(self, name: str) -> Job:
        """The job called ``name``; :class:`NotFoundError` when there is none."""
        try:
            return self.jobs[name]
        except KeyError:
            raise NotFoundError("job", name) from None


def _notebook(raw: object, base: Path, job: str) -> NotebookSpec:
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise ConfigError(f"job {job!r}: each notebook must be a path or a mapping with 'path' (got {raw!r})")
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"job {job!r}: 'parameters' of {raw['path']} must be a mapping (got {params!r})")
    path = Path(raw["path"])
    return NotebookSpec(path=path if path.is_absolute() else base / path, parameters=dict(params))


def _job(name: str, raw: dict[str, Any], defaults: dict[str, Any], base: Path) -> Job:
    if not _JOB_NAME.match(name):
        raise ConfigError(f"job name must match {_JOB_NAME.pattern} (got {name!r})")
    merged = {**defaults, **raw}
    cron = str(merged.get("cron", ""))
    if not croniter.is_valid(cron) or len(cron.split()) != 5:
        raise ConfigError(f"job {name!r}: 'cron' must be a five-field cron expression (got {cron!r})")
    tz = str(merged.get("timezone", "UTC"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"job {name!r}: 'timezone' must be an IANA zone name (got {tz!r})") from None
    period = merged.get("period", "previous_week")
    if period not in PERIOD_KINDS:
        raise ConfigError(f"job {name!r}: 'period' must be one of {', '.join(PERIOD_KINDS)} (got {period!r})")
    notebooks_dir = (base / str(merged.get("notebooks_dir", "."))).resolve()
    notebooks = tuple(_notebook(nb, notebooks_dir, name) for nb in merged.get("notebooks") or ())
    if not notebooks:
        raise ConfigError(f"job {name!r}: 'notebooks' must list at least one notebook (got none)")
    names = [nb.name for nb in notebooks]
    if len(set(names)) != len(names):
        raise ConfigError(f"job {name!r}: notebook file names must be unique (got {names})")
    recipients = merged.get("recipients") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    bad = [r for r in recipients if not isinstance(r, str) or "@" not in r]
    if bad:
        raise ConfigError(f"job {name!r}: 'recipients' must be e-mail addresses (got {bad!r})")
    try:
        timeout = parse_duration(merged.get("timeout", "30m"))
    except InvalidParameterError as exc:
        raise ConfigError(f"job {name!r}: {exc}") from None
    return Job(
        name=name,
        title=str(merged.get("title", name)),
        cron=cron,
        timezone=tz,
        period=period,
        notebooks=notebooks,
        recipients=tuple(recipients),
        timeout=timeout,
    )


def load_schedule(path: str | Path | None = None) -> Schedule:
    """Read and validate a schedule file.

    Notebook paths are relative to the directory holding the schedule file joined with the job's
    ``notebooks_dir`` (default: that directory). Keys of the top-level ``defaults``
    mapping apply to every job.

    Raises
    ------
    ConfigError
        When the file is missing, is not YAML, or a job is malformed (the message names the job and the key).
    """
    source = Path(path) if path is not None else DEFAULT_SCHEDULE
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"schedule file {str(source)!r} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"schedule file {str(source)!r} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), dict):
        raise ConfigError(f"schedule file {str(source)!r} must have a 'jobs' mapping")
    defaults = raw.get("defaults") or {}
    base = source.resolve().parent
    jobs = {name: _job(str(name), spec or {}, defaults, base) for name, spec in raw["jobs"].items()}
    sender = str(raw.get("sender", "analytics-reports@localhost"))
    return Schedule(jobs=jobs, sender=sender, source=source)
