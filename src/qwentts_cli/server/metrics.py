"""The server's Prometheus metrics, in a registry of their own (one per app, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("qwentts_requests", "HTTP requests by route and status", ["path", "status"], registry=r)
        self.queue = Gauge("qwentts_queue_depth", "Speech requests waiting for a slot", registry=r)
        self.active = Gauge("qwentts_active_slots", "Engine slots generating now", registry=r)
        self.ttfa = Histogram("qwentts_time_to_first_audio_seconds", "From a speech request to its first audio",
                              buckets=(0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30), registry=r)
        self.duration = Histogram("qwentts_speech_duration_seconds", "Whole speech requests",
                                  buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300), registry=r)
        self.audio_seconds = Counter("qwentts_audio_seconds", "Seconds of audio produced", registry=r)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
