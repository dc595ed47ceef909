"""A primary engine with a fallback: the local model answers when the endpoint fails.

Only a request that failed before producing any text is handed over (text already
shown is never generated twice). When the two engines use different FIM formats the
prompt is rebuilt from the request's parts for the fallback. The fallback is created
with the primary, on the worker thread, so the first failure is answered at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator

from engine.base import (
    CancelToken,
    Engine,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
)

log = logging.getLogger(__name__)


class FallbackEngine:
    def __init__(
        self,
        primary: Engine,
        make_fallback: Callable[[], Engine],
        on_switch: Callable[[str], None] | None = None,
    ) -> None:
        self.primary = primary
        self._make_fallback = make_fallback
        self._fallback: Engine | None = None
        self._fallback_error: EngineError | None = None
        self._on_switch = on_switch
        self.using_fallback = False
        self.last_stats = GenerationStats()
        # Loaded now (on the worker thread), so the first failure is answered at
        # once; a fallback that cannot load is reported when it is needed.
        try:
            self._fallback = make_fallback()
        except EngineError as exc:
            self._fallback_error = exc
            log.warning("the local fallback could not start: %s", exc)

    @property
    def fim_template(self):
        """The primary's; the fallback's while the primary cannot tell (it is down)."""
        template = getattr(self.primary, "fim_template", None)
        if template is None and self._fallback is not None:
            return getattr(self._fallback, "fim_template", None)
        return template

    @property
    def template_problem(self) -> EngineError | None:
        if self.fim_template is not None:
            return None
        return getattr(self.primary, "template_problem", None)

    @property
    def wants_other_files(self) -> bool:
        return bool(getattr(self.primary, "wants_other_files", False))

    def info(self) -> EngineInfo:
        info = self.primary.info()
        details = dict(info.details, fallback="local (in use)" if self.using_fallback else "local")
        return dataclasses.replace(info, details=details)

    def count_tokens(self, text: str) -> int:
        return self.primary.count_tokens(text)

    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        produced = False
        try:
            for piece in self.primary.stream(request, cancel):
                produced = True
                yield piece
            self.last_stats = self.primary.last_stats
            self._switch(False, "")
            return
        except EngineError as exc:
            if produced or cancel.cancelled:
                raise
            reason = str(exc)
        fallback = self._get_fallback(reason)
        self._switch(True, reason)
        yield from fallback.stream(self._for(fallback, request), cancel)
        self.last_stats = fallback.last_stats

    def _get_fallback(self, reason: str) -> Engine:
        if self._fallback is None:
            try:
                if self._fallback_error is not None:
                    raise self._fallback_error
                self._fallback = self._make_fallback()
            except EngineError as exc:
                raise EngineError(
                    f"{reason} The local fallback could not start either: {exc.message}",
                    exc.hint,
                ) from exc
        return self._fallback

    def _for(self, fallback: Engine, request: GenerationRequest) -> GenerationRequest:
        """``request`` in the fallback's FIM format."""
        mine = self.fim_template
        theirs = getattr(fallback, "fim_template", None)
        if request.fim is None or theirs is None or theirs == mine:
            return request
        parts = request.fim
        prompt = theirs.build(parts.prefix, parts.suffix, parts.middle_head)
        stops = tuple(s for s in request.stop if mine is None or s not in mine.stop_words)
        return dataclasses.replace(request, prompt=prompt, stop=theirs.stop_words + stops)

    def _switch(self, on: bool, reason: str) -> None:
        if on == self.using_fallback:
            return
        self.using_fallback = on
        message = (
            f"the endpoint failed ({reason}); the local model answers until it is back."
            if on
            else "the endpoint is back; completions come from it again."
        )
        log.warning("%s", message)
        if self._on_switch is not None:
            self._on_switch(message)

    def close(self) -> None:
        self.primary.close()
        if self._fallback is not None:
            self._fallback.close()
