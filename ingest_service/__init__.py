"""The ingest sidecar: a Falcon service storing the calculator's events durably (see ``docs/ingest.md``)."""

from ingest_service.config import Config

__all__ = ["Config", "create_app"]


def create_app(config: Config | None = None):  # noqa: ANN201 - falcon.App; imported lazily
    """Build the Falcon application (see :func:`ingest_service.app.create_app`)."""
    from ingest_service.app import create_app as _create

    return _create(config)
