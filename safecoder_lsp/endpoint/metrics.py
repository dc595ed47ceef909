"""Counters, gauges and histograms, written in the Prometheus text format (0.0.4).

Only numbers and bounded labels (route, status, token name, finish reason) are
kept: never a prompt, a generated text or a token's secret. ``GET /metrics`` renders
them on request; nothing is ever sent anywhere.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

Labels = tuple[tuple[str, str], ...]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    items = [*labels, extra] if extra else list(labels)
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in items) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)
        self._lock = threading.Lock()

    def _key(self, values: Sequence[str]) -> Labels:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}")
        return tuple(zip(self.label_names, (str(v) for v in values), strict=True))

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, label_names)
        self._values: dict[Labels, float] = {}
        if not self.label_names:
            self._values[()] = 0.0

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{_labels(k)} {_number(v)}" for k, v in items]


class Gauge(_Metric):
    """A value read when the metrics are rendered."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        super().__init__(name, help_text)
        self._read = read

    def samples(self) -> list[str]:
        return [f"{self.name} {_number(float(self._read()))}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, label_names)
        self.buckets = tuple(sorted(buckets))
        # per label set: counts per bucket (not cumulative), +Inf count, sum
        self._data: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        key = self._key(labels)
        with self._lock:
            counts, total = self._data.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            total[0] += value

    def count(self, *labels: str) -> int:
        with self._lock:
            data = self._data.get(self._key(labels))
            return sum(data[0]) if data else 0

    def samples(self) -> list[str]:
        out = []
        with self._lock:
            items = sorted((k, (list(c), t[0])) for k, (c, t) in self._data.items())
        for key, (counts, total) in items:
            running = 0
            for bound, n in zip([*self.buckets, math.inf], counts, strict=True):
                running += n
                out.append(f"{self.name}_bucket{_labels(key, ('le', _number(bound)))} {running}")
            out.append(f"{self.name}_sum{_labels(key)} {_number(total)}")
            out.append(f"{self.name}_count{_labels(key)} {running}")
        return out


M = TypeVar("M", bound=_Metric)


class Registry:
    def __init__(self) -> None:
        self._metrics: list[_Metric] = []

    def add(self, metric: M) -> M:
        self._metrics.append(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics:
            lines += metric.header()
            lines += metric.samples()
        return "\n".join(lines) + "\n"


class EndpointMetrics:
    """The endpoint's metrics; ``queue``/``active`` are read from the backend."""

    CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, stats: Callable[[], dict[str, int]]) -> None:
        r = self.registry = Registry()
        p = "safecoder_endpoint_"
        self.requests: Counter = r.add(
            Counter(p + "requests_total", "HTTP requests by route and status.", ("route", "status"))
        )
        self.completions: Counter = r.add(
            Counter(
                p + "completions_total",
                "Completions answered, by API token name and finish reason "
                "(client_closed: the client stopped reading once it had enough).",
                ("token", "finish_reason"),
            )
        )
        self.generated_tokens: Counter = r.add(
            Counter(
                p + "generated_tokens_total", "Tokens generated, by API token name.", ("token",)
            )
        )
        self.prompt_tokens: Counter = r.add(
            Counter(p + "prompt_tokens_total", "Prompt tokens, by API token name.", ("token",))
        )
        self.rejected: Counter = r.add(
            Counter(
                p + "rejected_total",
                "Requests refused: 401 unauthorized, 413 too large, 429 rate limited, "
                "503 queue full.",
                ("status",),
            )
        )
        self.client_gone: Counter = r.add(
            Counter(
                p + "client_gone_total",
                "Completions cancelled because the client closed the connection.",
            )
        )
        self.tls_failures: Counter = r.add(
            Counter(p + "tls_handshake_failures_total", "TLS handshakes that failed.")
        )
        self.latency: Histogram = r.add(
            Histogram(p + "request_duration_seconds", "Request latency by route.", ("route",))
        )
        self.first_token: Histogram = r.add(
            Histogram(
                p + "time_to_first_token_seconds",
                "From a completion request's arrival to its first generated text.",
            )
        )
        r.add(
            Gauge(p + "queue_length", "Requests waiting for the engine.", lambda: stats()["queued"])
        )
        r.add(Gauge(p + "active_requests", "Requests being generated.", lambda: stats()["active"]))

    def render(self) -> str:
        return self.registry.render()
