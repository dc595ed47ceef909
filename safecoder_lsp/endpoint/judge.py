"""Attribution on the endpoint: generated text judged against the team's index.

The index is a SQLite database, and a SQLite connection belongs to the thread that
opened it: one thread opens the ``Attributor`` and answers every request's
question in turn (a query takes milliseconds).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attribution.policy import Verdict
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.config import Config
from safecoder_lsp.references import as_json


class Judge:
    def __init__(self, attributor: Attributor, executor: ThreadPoolExecutor) -> None:
        self._attributor = attributor
        self._executor = executor
        self.index = str(attributor.index.path)
        self.action = attributor.policy.action

    @classmethod
    def open(cls, config: Config) -> Judge | None:
        """The judge for ``config`` (None when attribution is off or has no index).

        Raises AttributionError (with a hint) when the index cannot be used.
        """
        from safecoder_lsp.runtime import attributor

        executor = ThreadPoolExecutor(1, thread_name_prefix="endpoint-attribution")
        try:
            found = executor.submit(attributor, config).result()
        except BaseException:
            executor.shutdown()
            raise
        if found is None:
            executor.shutdown()
            return None
        return cls(found, executor)

    def judge(self, prefix: str, text: str) -> Verdict:
        return self._executor.submit(self._attributor.judge, prefix, text).result()

    @staticmethod
    def references(verdict: Verdict, text: str) -> list[dict[str, Any]]:
        return as_json(verdict.references, len(text))

    def close(self) -> None:
        self._executor.submit(self._attributor.close).result()
        self._executor.shutdown()
