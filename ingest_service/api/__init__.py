"""The authenticated analytics API of the sidecar (the seed's ``analytics_routes.py``), see ``docs/api.md``.

``register(app, config)`` adds every route to the sidecar's Falcon app:

- ``GET /api/analytics/dashboard/{funnel,conversions,popular,revenue}`` (read, cached);
- ``GET /api/analytics/reports/{weekly,cohorts,ltv,market-intelligence,lead-comparison}`` (read, cached);
- ``POST /api/analytics/ab-testing/create``, ``POST /api/analytics/ab-testing/{test_id}/start`` (admin),
  ``GET /api/analytics/ab-testing/{test_id}/results`` (read);
- ``GET /api/analytics/performance/summary`` (read), ``POST .../start-monitoring``, ``.../stop-monitoring`` (admin);
- ``POST /api/analytics/admin/delete-person`` (admin).

Event ingest and the variant endpoint stay public (the browser calls them).
"""

from __future__ import annotations

import os
from typing import Any

import falcon

from analytics.privacy import check_pseudonym_key, install_log_masking
from ingest_service.api.auth import READ, KeyChecker
from ingest_service.api.base import ApiContext, QueryResource
from ingest_service.api.reads import DASHBOARD, REPORTS
from ingest_service.api.settings import ApiSettings
from ingest_service.api.writes import (
    CreateTestResource,
    DeletePersonResource,
    MonitoringResource,
    ResultsResource,
    StartTestResource,
    SummaryResource,
)

__all__ = ["ApiContext", "ApiSettings", "KeyChecker", "register"]

PREFIX = "/api/analytics"


def register(app: falcon.App, config: Any, settings: ApiSettings | None = None) -> ApiContext:
    """Add the authenticated API to ``app``.

    Parameters
    ----------
    app:
        The sidecar's application (:func:`ingest_service.app.create_app`).
    config:
        The sidecar's :class:`ingest_service.config.Config` (its ``database_url`` is the write database).
    settings:
        Keys, cache and limits; default :meth:`ApiSettings.from_env`.

    Also checks the pseudonymisation key (refusing to start in production without one) and, unless
    ``ANALYTICS_LOG_MASKING=0``, masks sensitive values in every log record of the process.
    """
    settings = settings or ApiSettings.from_env()
    check_pseudonym_key()
    if os.environ.get("ANALYTICS_LOG_MASKING", "1").strip() not in ("0", "false", "no"):
        install_log_masking()
    ctx = ApiContext(settings, config.database_url)
    for group, routes in (("dashboard", DASHBOARD), ("reports", REPORTS)):
        for name, (spec, compute) in routes.items():
            app.add_route(f"{PREFIX}/{group}/{name}", QueryResource(ctx, READ, spec, compute))
    app.add_route(f"{PREFIX}/ab-testing/create", CreateTestResource(ctx))
    app.add_route(f"{PREFIX}/ab-testing/{{test_id}}/start", StartTestResource(ctx))
    app.add_route(f"{PREFIX}/ab-testing/{{test_id}}/results", ResultsResource(ctx))
    app.add_route(f"{PREFIX}/performance/summary", SummaryResource(ctx))
    app.add_route(f"{PREFIX}/performance/start-monitoring", MonitoringResource(ctx, start=True))
    app.add_route(f"{PREFIX}/performance/stop-monitoring", MonitoringResource(ctx, start=False))
    app.add_route(f"{PREFIX}/admin/delete-person", DeletePersonResource(ctx))
    return ctx
