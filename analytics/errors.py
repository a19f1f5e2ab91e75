"""The package's exceptions: one root, structured fields, messages that say name, expected, got."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AnalyticsError",
    "ConfigError",
    "FieldError",
    "InvalidParameterError",
    "NotFoundError",
    "StorageError",
    "ValidationError",
]


class AnalyticsError(Exception):
    """Root of every exception raised on purpose by :mod:`analytics`."""


class ConfigError(AnalyticsError):
    """A setting (environment variable, config file) is missing or malformed."""


class StorageError(AnalyticsError):
    """The database could not be reached or refused a write."""


class NotFoundError(AnalyticsError):
    """A named object (test id, job, report) does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} does not exist")


class InvalidParameterError(AnalyticsError, ValueError):
    """A function argument is out of its domain.

    Parameters
    ----------
    name:
        The parameter's name.
    message:
        What was expected and what was got, e.g.
        ``'end_date' must not be before 'start_date' (got end_date=2026-01-01, start_date=2026-02-01)``.
    """

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class FieldError:
    """One problem of one event field.

    Attributes
    ----------
    field:
        Dotted path of the field, e.g. ``event_data.price``.
    code:
        Machine-readable reason: ``required``, ``type``, ``too_long``, ``unknown_event_type``,
        ``not_finite``, ``out_of_range``, ``invalid_choice``, ``future_timestamp``, ``too_old``,
        ``too_deep``, ``too_large``.
    message:
        Human-readable sentence naming the field, what was expected and what was got.
    """

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class ValidationError(AnalyticsError, ValueError):
    """An event (or batch) failed validation; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(e.message for e in self.errors) or "invalid event")
