"""A circuit breaker for an endpoint: stop calling one that keeps failing.

After ``failures`` endpoint faults in a row the breaker opens: calls fail at once
(or go to the local fallback) for ``cooldown_s``. Then one call is let through
(half-open); its success closes the breaker, its failure opens it again for twice
as long, up to ``max_cooldown_s``. An editor sends a request per keystroke, so
without this a dead endpoint would cost every keystroke a connect timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from engine.remote.http import RemoteError


class BreakerOpen(RemoteError):
    """The endpoint failed repeatedly; it is not called until the cool-down ends."""


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 3,
        cooldown_s: float = 10.0,
        max_cooldown_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = max(1, failures)
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max(cooldown_s, max_cooldown_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._streak = 0
        self._open_until = 0.0
        self._current_cooldown = cooldown_s
        self._trial = False  # a half-open trial call is in flight
        self.last_error: RemoteError | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self._streak < self.failures:
                return "closed"
            return "open" if self._clock() < self._open_until else "half-open"

    def before_call(self, url: str) -> None:
        """Raise BreakerOpen while the breaker is open (or a trial call is running)."""
        with self._lock:
            if self._streak < self.failures:
                return
            now = self._clock()
            if now >= self._open_until and not self._trial:
                self._trial = True  # let this one call through
                return
            wait = max(0.0, self._open_until - now)
        last = self.last_error.message if self.last_error else "it failed"
        raise BreakerOpen(
            f"the endpoint {url} failed {self._streak} times in a row ({last}); "
            f"not calling it for {wait:.0f} s.",
            "Check that the endpoint is running; completions resume by themselves "
            "(set engine.fallback = local to use the local model meanwhile).",
            endpoint_fault=False,
        )

    def success(self) -> None:
        with self._lock:
            self._streak = 0
            self._trial = False
            self._current_cooldown = self.cooldown_s
            self.last_error = None

    def abandon(self) -> None:
        """A call ended without a verdict (cancelled): free the half-open trial."""
        with self._lock:
            self._trial = False

    def failure(self, error: RemoteError) -> None:
        """Record an endpoint fault (request errors such as 401 do not count)."""
        with self._lock:
            was_trial = self._trial
            self._trial = False
            if not error.endpoint_fault:
                return
            self._streak += 1
            self.last_error = error
            if self._streak >= self.failures:
                if was_trial:
                    self._current_cooldown = min(self._current_cooldown * 2, self.max_cooldown_s)
                self._open_until = self._clock() + self._current_cooldown
