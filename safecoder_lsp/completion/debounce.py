"""Adaptive debounce: while the user types faster than the engine answers, wait for a
pause before starting the engine.

On a laptop CPU an engine job that is cancelled by the next keystroke still holds the
engine until its current prompt chunk is evaluated (up to ~0.6 s on 2 cores), so the
keystroke the user does wait for starts late. A request is therefore held back
(``delay``) when it came while an earlier request for its document was still being
answered and the recent keystrokes there came faster than the engine's recent
answers; a newer request in the meantime supersedes it without an engine call. A
user who types slower than the engine answers, and every closed-loop client that
waits for each answer, is never delayed (nor is a keystroke after quick answers from
the typed-ahead cache: their gaps are short, but nothing was waiting).

The wait is 1.5x the typical gap between keystrokes, clamped to
[``MIN_DELAY_MS``, ``max_ms``] (Tabby's editor plugins scale a 200 ms base by 1.5-3
and clamp it to 100-1000 ms; this one starts from what it measures).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Gaps longer than this are pauses, not typing.
TYPING_GAP_MS = 1000.0
MIN_DELAY_MS = 75.0
# Weight of the newest sample in the moving averages.
ALPHA = 0.3


def _ema(old: float | None, sample: float) -> float:
    return sample if old is None else (1 - ALPHA) * old + ALPHA * sample


@dataclass
class Debouncer:
    max_ms: float = 300.0
    engine_ms: float | None = None  # moving average of the engine's answer times
    _gaps: dict[str, float] = field(default_factory=dict)  # uri -> moving average gap
    _last: dict[str, float] = field(default_factory=dict)  # uri -> last request time (s)
    _tickets: dict[str, int] = field(default_factory=dict)  # uri -> requests so far
    _open: dict[str, int] = field(default_factory=dict)  # uri -> requests not yet answered
    # uri -> whether its newest request came while another was not yet answered
    _overlap: dict[str, bool] = field(default_factory=dict)

    def arrived(self, uri: str, now: float) -> int:
        """A request for ``uri`` came at ``now`` (seconds); returns its ticket."""
        last = self._last.get(uri)
        self._last[uri] = now
        if last is not None:
            gap = (now - last) * 1000
            if gap <= TYPING_GAP_MS:
                self._gaps[uri] = _ema(self._gaps.get(uri), gap)
            else:
                self._gaps.pop(uri, None)  # after a pause the first keystroke goes at once
        ticket = self._tickets.get(uri, 0) + 1
        self._tickets[uri] = ticket
        self._overlap[uri] = self._open.get(uri, 0) > 0
        self._open[uri] = self._open.get(uri, 0) + 1
        return ticket

    def finished(self, uri: str) -> None:
        """A request for ``uri`` was answered (whatever the answer)."""
        left = self._open.get(uri, 0) - 1
        if left > 0:
            self._open[uri] = left
        else:
            self._open.pop(uri, None)

    def answered(self, engine_ms: float) -> None:
        """The engine answered a request in ``engine_ms``."""
        self.engine_ms = _ema(self.engine_ms, engine_ms)

    def delay(self, uri: str) -> float:
        """Seconds to hold the next engine call for ``uri`` (0: go now)."""
        gap = self._gaps.get(uri)
        if self.max_ms <= 0 or gap is None or self.engine_ms is None:
            return 0.0
        if not self._overlap.get(uri):
            return 0.0  # nothing was waiting for an answer when it came
        if gap >= self.engine_ms:
            return 0.0  # the engine keeps up with the typing
        return min(self.max_ms, max(MIN_DELAY_MS, 1.5 * gap)) / 1000

    def superseded(self, uri: str, ticket: int) -> bool:
        """A newer request for ``uri`` arrived after the one holding ``ticket``."""
        return self._tickets.get(uri, 0) != ticket

    def forget(self, uri: str) -> None:
        for table in (self._gaps, self._last, self._tickets, self._open, self._overlap):
            table.pop(uri, None)
