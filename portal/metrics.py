"""`/metrics`: the engine's numbers in Prometheus text format (DESIGN §9).

Only callers whose address is in ``METRICS_ALLOWED_IPS`` (default loopback) see it; anyone
else gets the styled 404, as for a page that does not exist. The address is the socket's
(``REMOTE_ADDR``): behind a reverse proxy on the same host, scrape the app server directly
or let the proxy refuse ``/metrics``; a forwarded header is never trusted here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from governance.services import metrics


def allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


class EngineCollector(Collector):
    """Reads one :func:`metrics.snapshot` per scrape."""

    def collect(self) -> Iterator[Metric]:
        snap = metrics.snapshot()
        pending = GaugeMetricFamily(
            "portcullis_grants_pending",
            "Role grants waiting for the delivery engine (operation: grant = pending, revoke = revoking).",
            labels=["operation"],
        )
        for state, n in snap.grants_pending.items():
            pending.add_metric(["grant" if state == "pending" else "revoke"], n)
        yield pending
        yield GaugeMetricFamily(
            "portcullis_grants_oldest_pending_age_seconds",
            "How long the oldest waiting grant has waited (since its request was submitted); 0 when none wait.",
            value=snap.oldest_pending_seconds,
        )
        attempts = CounterMetricFamily(
            "portcullis_delivery_attempts",
            "Delivery attempts (one per grant per try) by connector and outcome.",
            labels=["connector", "kind", "outcome"],
        )
        for name, kind, outcome, n in snap.attempts:
            attempts.add_metric([name, kind, outcome], n)
        yield attempts
        histogram = snap.time_to_access
        buckets = [
            (repr(float(le)) if le != float("inf") else "+Inf", n)
            for le, n in zip([*histogram.bounds, float("inf")], histogram.cumulative, strict=True)
        ]
        yield HistogramMetricFamily(
            "portcullis_time_to_access_seconds",
            "Request submitted to access granted (the request marked Delivered), for requests that add access.",
            buckets=buckets,
            sum_value=histogram.total,
        )
        yield GaugeMetricFamily("portcullis_outbox_depth", "Email written but not sent yet.", value=snap.outbox_depth)
        beat = GaugeMetricFamily(
            "portcullis_beat_job_last_success_timestamp_seconds",
            "Unix time of each beat job's last successful run (absent: never seen).",
            labels=["job"],
        )
        for job, at in sorted(snap.beat.items()):
            if at is not None:
                beat.add_metric([job], at.timestamp())
        yield beat


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not allowed(request.META.get("REMOTE_ADDR", "")):
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector())
    registry.register(ProcessCollector(registry=None))
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
