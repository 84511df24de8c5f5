"""Prometheus metrics at ``/metrics``, correct across the workers of ``talents serve --workers N``.

Request latency and each worker's ranking index are counted in the process (prometheus-client's
multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set, as ``talents serve`` does); the figures every
process shares — allocation runs (the scheduler runs most of them), the notification backlog and its
failures — are read from the database when scraped.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from litestar import Response, get
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from talents.health import probe_pool
from talents.kernel.db import get_engine
from talents.kernel.principal import ADMIN, Principal
from talents.kernel.settings import get_settings
from talents.ranking import get_ranking_cache

__all__ = ["MULTIPROC_ENV", "observe_request", "route_handlers"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client keeps values in memory or in the shared folder depending on the environment when it is
# imported (workers of `talents serve --workers N` start with the folder set); read them back the same way,
# even if the variable is set later in this process (`talents serve` with one worker sets it after importing us).
_MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))
# Litestar adds "; charset=utf-8" to a text type itself.
CONTENT_TYPE = "text/plain; version=0.0.4"

REQUEST_SECONDS = Histogram(
    "talents_http_request_duration_seconds", "Time to answer an HTTP request, per route template",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RANKING_SIZE = Gauge("talents_ranking_index_agents", "Agents in this worker's ranking index",
                     multiprocess_mode="liveall")
RANKING_WATERMARK = Gauge("talents_ranking_index_watermark_seconds",
                          "Unix time up to which this worker's ranking index has read profile changes",
                          multiprocess_mode="liveall")

RANKING_ANSWERS = Gauge("talents_ranking_answers", "Rankings and what goes with them (who a need leaves out, its "
                        "seats, its team) this worker answered since it started: kept on the state of the index they "
                        "were made on, kept across later states the changes could not alter, mended on a later state "
                        "(changed candidates taken out or put back at their new score), or computed",
                        ["how"], multiprocess_mode="liveall")


_INDEX_GAUGES_S = 1.0  # the index gauges need not be set on every request: once a second is fresh enough
_gauges_set_at = [float("-inf")]


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
    now = time.monotonic()
    if now - _gauges_set_at[0] < _INDEX_GAUGES_S:
        return
    cache = get_ranking_cache(get_engine())
    if cache.watermark is not None:
        _gauges_set_at[0] = now
        RANKING_SIZE.set(len(cache.versions))
        watermark = cache.watermark if cache.watermark.tzinfo else cache.watermark.replace(tzinfo=UTC)
        RANKING_WATERMARK.set(watermark.timestamp())
        memo = cache.memo
        for how, n in (("kept", memo.kept), ("carried", memo.carried), ("mended", memo.mended),
                       ("computed", memo.computed)):
            RANKING_ANSWERS.labels(how).set(n)


def _seconds(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return float(value.total_seconds())


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time: the same whichever worker is scraped."""

    def collect(self) -> Iterator[Any]:
        with get_engine().connect() as conn:
            runs = conn.execute(sa.text(
                "SELECT started_at, finished_at FROM allocation_run WHERE finished_at IS NOT NULL "
                "ORDER BY started_at DESC LIMIT 1000")).all()
            backlog = conn.execute(sa.text(
                "SELECT channel, status, count(*) FROM notification WHERE status IN ('pending', 'failed') "
                "GROUP BY channel, status")).all()
        durations = [_seconds(_aware(f) - _aware(s)) for s, f in runs]
        count = CounterMetricFamily("talents_allocation_runs", "Finished allocation runs (latest 1 000)")
        count.add_metric([], len(durations))
        yield count
        total = GaugeMetricFamily("talents_allocation_run_seconds_sum",
                                  "Total duration of the latest 1 000 finished allocation runs")
        total.add_metric([], sum(durations))
        yield total
        last = GaugeMetricFamily("talents_allocation_last_run_seconds", "Duration of the latest allocation run")
        last.add_metric([], durations[0] if durations else 0.0)
        yield last
        pending = GaugeMetricFamily("talents_notifications_backlog", "Notifications waiting to be delivered",
                                    labels=["channel"])
        failed = GaugeMetricFamily("talents_notifications_failed",
                                   "Notifications given up after their last attempt", labels=["channel"])
        for channel, status, n in backlog:
            (pending if status == "pending" else failed).add_metric([channel], n)
        yield pending
        yield failed


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite through a plain text query
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_database = CollectorRegistry()
_database.register(DatabaseCollector())


def _render() -> bytes:
    processes: CollectorRegistry = REGISTRY
    if _MULTIPROCESS:
        processes = CollectorRegistry()
        MultiProcessCollector(processes)
    return generate_latest(processes) + generate_latest(_database)


@get("/metrics", include_in_schema=False, opt={"public": True, "database": False})
async def metrics(principal: Principal) -> Response[bytes]:
    """The metrics in Prometheus' text format (an admin's API token unless ``TALENTS_METRICS_PUBLIC``)."""
    if not get_settings().app.metrics_public and not principal.has(ADMIN):
        return Response(b"metrics need an admin's API token\n", status_code=401, media_type="text/plain",
                        headers={"WWW-Authenticate": "Bearer"})
    body = await asyncio.get_running_loop().run_in_executor(probe_pool, _render)
    return Response(body, media_type=CONTENT_TYPE)


route_handlers = [metrics]
