"""The agent's Prometheus metrics, read from the outbox and the uploader at each scrape (nothing to keep in step).

ocr_outbox_pending_items                   events committed and not yet acknowledged by the central
ocr_outbox_pending_bytes                   their payload bytes
ocr_outbox_oldest_age_seconds              now - capture time of the oldest of them (0 when none)
ocr_outbox_dropped_events_total{reason}    OUTBOX_FULL, REJECTED_NEW, EXPIRED, REFUSED (quarantined)
ocr_agent_connected                        1 while a report call is open and answered
ocr_agent_upload_failures_total{reason}    report calls that ended in an error, by reason
ocr_agent_events_sent_total                events sent (resends included)
ocr_agent_events_acked_total{result}       events the central acknowledged: stored, or duplicate (a resend)
ocr_agent_events_invalid_total{reason}     events never committed: the central's rules would refuse them
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["AgentCollector", "serve_metrics"]


class AgentCollector(Collector):
    def __init__(self, agent: Any) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Any]:
        backlog = self.agent.outbox.backlog()
        stats = self.agent.uploader.stats
        yield GaugeMetricFamily(
            "ocr_outbox_pending_items",
            "Events committed to the outbox and not yet acknowledged by the central.",
            value=backlog.events,
        )
        yield GaugeMetricFamily("ocr_outbox_pending_bytes", "Payload bytes of those events.", value=backlog.bytes)
        age = max(0.0, time.time() - backlog.oldest_capture_time) if backlog.oldest_capture_time else 0.0
        yield GaugeMetricFamily("ocr_outbox_oldest_age_seconds", "Age of the oldest unacknowledged event.", value=age)
        dropped = CounterMetricFamily(
            "ocr_outbox_dropped_events", "Events the outbox dropped, by reason.", labels=("reason",)
        )
        for reason, n in sorted(backlog.drops.items()):
            dropped.add_metric((reason,), n)
        yield dropped
        yield GaugeMetricFamily(
            "ocr_agent_connected",
            "1 while a report call to the central is open.",
            value=1.0 if stats.connected else 0.0,
        )
        failures = CounterMetricFamily(
            "ocr_agent_upload_failures", "Report calls that ended in an error.", labels=("reason",)
        )
        for reason, n in sorted(stats.failure_reasons.items()):
            failures.add_metric((reason,), n)
        yield failures
        yield CounterMetricFamily(
            "ocr_agent_events_sent", "Events sent to the central (resends included).", value=stats.events_sent
        )
        acked = CounterMetricFamily(
            "ocr_agent_events_acked", "Events the central acknowledged after its commit.", labels=("result",)
        )
        acked.add_metric(("stored",), stats.events_stored)
        acked.add_metric(("duplicate",), stats.duplicates)
        yield acked
        invalid = CounterMetricFamily(
            "ocr_agent_events_invalid",
            "Events not committed to the outbox because the central's rules refuse them.",
            labels=("reason",),
        )
        for reason, n in sorted(dict(self.agent.admission.invalid).items()):
            invalid.add_metric((reason,), n)
        yield invalid


def serve_metrics(agent: Any, host: str, port: int) -> int:
    """Serve the agent's metrics on http://host:port/metrics; returns the port (``port`` 0: a free one)."""
    registry = CollectorRegistry()
    registry.register(AgentCollector(agent))
    server, _ = start_http_server(port, addr=host, registry=registry)
    return server.server_address[1]
