"""The endpoint's small parts without a model: the Prometheus text format, the
finish reasons, and how a closed TLS connection is told from a pipelined request."""

from __future__ import annotations

from engine.base import GenerationStats, StopReason
from safecoder_lsp.endpoint.metrics import Counter, Gauge, Histogram, Registry
from safecoder_lsp.endpoint.schema import finish_reason
from safecoder_lsp.endpoint.watch import _tls_close


def test_prometheus_text_format():
    registry = Registry()
    requests = registry.add(Counter("x_requests_total", "Requests.", ("route", "status")))
    latency = registry.add(Histogram("x_seconds", "Latency.", buckets=(0.1, 1.0)))
    registry.add(Gauge("x_queue", "Queue.", lambda: 3))
    requests.inc("/a", "200")
    requests.inc("/a", "200")
    requests.inc('we"ird\\\n', "500")
    for value in (0.05, 0.1, 0.5, 7):
        latency.observe(value)
    assert registry.render().splitlines() == [
        "# HELP x_requests_total Requests.",
        "# TYPE x_requests_total counter",
        'x_requests_total{route="/a",status="200"} 2',
        'x_requests_total{route="we\\"ird\\\\\\n",status="500"} 1',
        "# HELP x_seconds Latency.",
        "# TYPE x_seconds histogram",
        'x_seconds_bucket{le="0.1"} 2',  # bounds are inclusive
        'x_seconds_bucket{le="1"} 3',
        'x_seconds_bucket{le="+Inf"} 4',
        "x_seconds_sum 7.65",
        "x_seconds_count 4",
        "# HELP x_queue Queue.",
        "# TYPE x_queue gauge",
        "x_queue 3",
    ]
    assert requests.value("/a", "200") == 2 and latency.count() == 4


def test_finish_reasons():
    def reason(stop: StopReason | None) -> str:
        return finish_reason(GenerationStats(stop_reason=stop))

    assert reason(StopReason.MAX_TOKENS) == "length"
    assert reason(StopReason.CONTEXT_FULL) == "length"
    assert reason(StopReason.STOP_WORD) == "stop"
    assert reason(StopReason.END_OF_TEXT) == "stop"
    assert finish_reason(None) == "stop"


def test_a_tls_close_notify_is_told_from_a_pipelined_request():
    def record(kind: int, length: int) -> bytes:
        return bytes([kind, 3, 3]) + length.to_bytes(2, "big") + b"\0" * length

    assert _tls_close(record(0x15, 26))  # TLS 1.2: a plain alert record
    assert _tls_close(record(0x17, 19))  # TLS 1.3: an encrypted alert, alone
    assert not _tls_close(record(0x17, 44))  # an encrypted request
    assert not _tls_close(record(0x17, 19) + record(0x17, 40))  # more than one record
    assert not _tls_close(b"\x17\x03")
