"""Server-side forwarding of the calculator's seed events to GA4 through the Measurement Protocol.

An option of the sidecar, on when both ``GA4_MEASUREMENT_ID`` and ``GA4_API_SECRET`` are set. After the sidecar
has stored a batch, it hands the stored events to :meth:`GA4Forwarder.submit`, which only puts them on a bounded
in-memory queue; a daemon thread turns them into Measurement Protocol requests and POSTs them, so GA4's latency
or an outage never slows down or fails ingestion. Forwarding is best effort (GA4 itself gives no delivery
guarantee): a full queue drops events and counts them; network errors, 429 and 5xx are retried with exponential
backoff a few times.

Payload rules enforced by :func:`build_payloads` (Google's Measurement Protocol reference, "Limitations"):

* one ``client_id`` per request (the event's ``session_id``, the tracker's anonymous id), at most
  :data:`MAX_EVENTS_PER_REQUEST` (25) events per request and a body under :data:`MAX_BODY_BYTES` (130 kB);
* event names of at most 40 characters, letters, digits and underscores, starting with a letter, and not one
  of GA4's reserved names or prefixes;
* at most 25 parameters per event, parameter names as event names, string values of at most 100 characters
  (standard properties), scalar values only;
* ``timestamp_micros`` per event: the event's own time (GA4 accepts backdating up to 72 hours).

Do not enable both this and the page's ``gtag`` for the same property: GA4 would count each event twice.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from analytics.events import Event

__all__ = [
    "DEFAULT_ENDPOINT",
    "MAX_BODY_BYTES",
    "MAX_EVENTS_PER_REQUEST",
    "SEED_EVENTS",
    "GA4Forwarder",
    "ForwarderStats",
    "build_payloads",
    "ga4_params",
]

DEFAULT_ENDPOINT = "https://www.google-analytics.com/mp/collect"
SEED_EVENTS: tuple[str, ...] = (
    "ai_calculator_opened",
    "calculator_step_completed",
    "assessment_submitted",
    "conversion_offer_viewed",
    "paid_upgrade_clicked",
)
MAX_EVENTS_PER_REQUEST = 25
MAX_PARAMS_PER_EVENT = 25
MAX_NAME_LENGTH = 40
MAX_VALUE_LENGTH = 100
MAX_BODY_BYTES = 130_000
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
_RESERVED_NAMES = frozenset(
    {
        "ad_activeview", "ad_click", "ad_exposure", "ad_query", "ad_reward", "adunit_exposure", "app_background",
        "app_clear_data", "app_exception", "app_remove", "app_store_refund", "app_store_subscription_cancel",
        "app_store_subscription_convert", "app_store_subscription_renew", "app_update", "app_upgrade",
        "dynamic_link_app_open", "dynamic_link_app_update", "dynamic_link_first_open", "error", "first_open",
        "first_visit", "in_app_purchase", "notification_dismiss", "notification_foreground", "notification_open",
        "notification_receive", "os_update", "session_start", "session_start_with_rollout", "user_engagement",
    }
)
_RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
#: parameters kept first when an event has more than 25 (the rest are dropped in name order).
_PRIORITY = ("plan", "price", "value", "currency", "offer", "step", "seconds_on_step", "job_title", "industry",
             "risk_level", "source", "medium", "campaign", "test_id", "variant", "engagement_time_msec")
_log = logging.getLogger(__name__)


def _legal_name(name: str) -> bool:
    return bool(_NAME.match(name)) and name not in _RESERVED_NAMES and not name.startswith(_RESERVED_PREFIXES)


def ga4_params(event: Event) -> dict[str, Any]:
    """The GA4 parameters of one event: its legal scalar ``event_data`` values, strings cut to 100 characters,
    plus ``value``/``currency`` for ``paid_upgrade_clicked`` (GA4's revenue fields), ``event_id`` and
    ``engagement_time_msec`` (needed for the event to show in GA4's real-time reports); at most 25."""
    params: dict[str, Any] = {}
    for name, value in event.event_data.items():
        if not isinstance(name, str) or not _legal_name(name) or value is None:
            continue
        if isinstance(value, bool | int | float):
            params[name] = value
        elif isinstance(value, str):
            params[name] = value[:MAX_VALUE_LENGTH]
    if event.event_type == "paid_upgrade_clicked" and isinstance(params.get("price"), int | float):
        params["value"] = params["price"]
        params.setdefault("currency", "USD")
    params["event_id"] = event.event_id[:MAX_VALUE_LENGTH]
    params["engagement_time_msec"] = 1
    if len(params) > MAX_PARAMS_PER_EVENT:
        order = sorted(params, key=lambda k: (_PRIORITY.index(k) if k in _PRIORITY else len(_PRIORITY), k))
        params = {k: params[k] for k in order[:MAX_PARAMS_PER_EVENT]}
    return params


def _micros(ts: datetime) -> int:
    aware = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
    return int(round(aware.timestamp() * 1_000_000))


def build_payloads(events: Iterable[Event], names: Iterable[str] = SEED_EVENTS) -> list[dict[str, Any]]:
    """Measurement Protocol request bodies for the events whose type is in ``names``.

    Events are grouped by ``(session_id, user_id)`` (a request has one ``client_id``), kept in their order, and
    split into requests of at most 25 events and under 130 kB each.
    """
    wanted = set(names)
    groups: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
    for e in events:
        if e.event_type not in wanted or not _legal_name(e.event_type):
            continue
        item = {"name": e.event_type, "params": ga4_params(e), "timestamp_micros": _micros(e.timestamp)}
        groups.setdefault((e.session_id, e.user_id), []).append(item)
    payloads: list[dict[str, Any]] = []
    for (client_id, user_id), items in groups.items():
        head: dict[str, Any] = {"client_id": client_id}
        if user_id:
            head["user_id"] = user_id
        chunk: list[dict[str, Any]] = []
        for item in items:
            candidate = {**head, "events": [*chunk, item]}
            too_big = len(json.dumps(candidate, separators=(",", ":")).encode()) > MAX_BODY_BYTES
            if chunk and (len(chunk) >= MAX_EVENTS_PER_REQUEST or too_big):
                payloads.append({**head, "events": chunk})
                chunk = []
            chunk.append(item)
        if chunk:
            payloads.append({**head, "events": chunk})
    return payloads


@dataclass
class ForwarderStats:
    """Counters of one forwarder: events queued, sent (in a 2xx request), dropped (queue full or given up)."""

    queued: int = 0
    sent: int = 0
    dropped: int = 0
    requests: int = 0
    failed_requests: int = 0


_STOP = object()


class GA4Forwarder:
    """Forwards stored seed events to GA4's Measurement Protocol from a background thread.

    Parameters
    ----------
    measurement_id, api_secret:
        The web stream's measurement id (``G-…``) and a Measurement Protocol API secret.
    endpoint:
        The collection URL (default GA4's; ``…/debug/mp/collect`` validates without recording; tests use a
        local receiver).
    queue_size:
        Events waiting at most; beyond, :meth:`submit` drops and counts them.
    timeout:
        Seconds per HTTP request.
    max_retries:
        Retries of a request after a network error, 429 or 5xx, waiting ``backoff * 2**attempt`` seconds.
    names:
        Event types forwarded (default the five seed events).
    """

    def __init__(
        self,
        measurement_id: str,
        api_secret: str,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        queue_size: int = 10_000,
        timeout: float = 5.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        names: Iterable[str] = SEED_EVENTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.measurement_id = measurement_id
        self.url = endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(
            {"measurement_id": measurement_id, "api_secret": api_secret}
        )
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.names = tuple(names)
        self.stats = ForwarderStats()
        self._sleep = sleep
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> GA4Forwarder | None:
        """A started forwarder when ``GA4_MEASUREMENT_ID`` and ``GA4_API_SECRET`` are both set, else None.
        ``GA4_MP_ENDPOINT`` overrides the collection URL."""
        env = os.environ if env is None else env
        mid, secret = env.get("GA4_MEASUREMENT_ID", "").strip(), env.get("GA4_API_SECRET", "").strip()
        if not (mid and secret):
            return None
        endpoint = env.get("GA4_MP_ENDPOINT", "").strip() or DEFAULT_ENDPOINT
        return cls(mid, secret, endpoint=endpoint, **kwargs).start()

    def start(self) -> GA4Forwarder:
        """Start the sending thread (idempotent; also restarts it in a forked worker)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ga4-forwarder", daemon=True)
                self._thread.start()
        return self

    def submit(self, events: Iterable[Event]) -> int:
        """Queue the seed events among ``events`` (never blocks); returns how many were queued."""
        if self._thread is None or not self._thread.is_alive():
            self.start()
        n = 0
        for e in events:
            if e.event_type not in self.names:
                continue
            try:
                self._queue.put_nowait(e)
                n += 1
            except queue.Full:
                self.stats.dropped += 1
        self.stats.queued += n
        return n

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has been sent or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                self._queue.task_done()
                return
            batch = [first]
            stop = False
            while len(batch) < 500:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    self._queue.task_done()
                    break
                batch.append(item)
            try:
                for payload in build_payloads(batch, self.names):
                    n = len(payload["events"])
                    if self._post(payload):
                        self.stats.sent += n
                    else:
                        self.stats.dropped += n
            except Exception:  # the thread must survive anything one batch does
                _log.exception("GA4 forwarding failed")
                self.stats.dropped += len(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()
            if stop:
                return

    def _post(self, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload, separators=(",", ":")).encode()
        for attempt in range(self.max_retries + 1):
            self.stats.requests += 1
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                    return True
            except urllib.error.HTTPError as exc:
                self.stats.failed_requests += 1
                if exc.code != 429 and exc.code < 500:
                    _log.warning("GA4 refused a request with HTTP %s; not retried", exc.code)
                    return False
            except (urllib.error.URLError, OSError) as exc:
                self.stats.failed_requests += 1
                _log.debug("GA4 unreachable: %s", exc)
            if attempt < self.max_retries:
                self._sleep(self.backoff * 2**attempt)
        _log.warning("GA4 forwarding gave up after %d attempts", self.max_retries + 1)
        return False
