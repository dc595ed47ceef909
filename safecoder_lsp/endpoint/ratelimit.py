"""Per-token rate limits: one token bucket per API token name.

A bucket holds at most ``burst`` requests and refills at ``per_minute / 60`` per
second. The default burst (``default_burst``) is a sixth of the per-minute rate, at
least 1: 120/min allows 20 requests at once (an editor sends a few per second while
someone types, with pauses between), then 2 per second.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def default_burst(per_minute: int) -> int:
    return max(1, per_minute // 6)


@dataclass
class _Bucket:
    level: float
    stamp: float


class RateLimiter:
    """``check(key)`` -> 0 when the request may go on, else the seconds to wait."""

    def __init__(
        self,
        per_minute: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst if burst is not None else default_burst(int(per_minute))
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    def describe(self) -> str:
        return f"{self.per_minute:g} requests per minute per token (bursts of {self.burst})"

    def check(self, key: str) -> float:
        if not self.enabled:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            bucket.level = min(float(self.burst), bucket.level + (now - bucket.stamp) * self._rate)
            bucket.stamp = now
            if bucket.level >= 1.0:
                bucket.level -= 1.0
                return 0.0
            return (1.0 - bucket.level) / self._rate

    @staticmethod
    def retry_after(wait_s: float) -> int:
        """The Retry-After header's whole seconds (never 0: that means 'now')."""
        return max(1, math.ceil(wait_s))
