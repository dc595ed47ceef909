"""JSON-RPC protocol adjustments on top of pygls.

1. Requests whose params do not fit the LSP types get an InvalidParams error
   response naming the method and the problem. (pygls logs and drops them, which
   leaves the editor waiting forever.)
2. The llm-ls methods (Hugging Face plugins) keep their params as plain dicts:
   their wire format is not part of lsprotocol and must be read leniently.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)

RAW_METHODS = frozenset(
    {"llm-ls/getCompletions", "llm-ls/acceptCompletion", "llm-ls/rejectCompletion"}
)


@attrs.define
class RawRequest:
    id: Any
    method: str
    jsonrpc: str
    params: Any = None


@attrs.define
class RawNotification:
    method: str
    jsonrpc: str
    params: Any = None


@attrs.define
class Dropped:
    """A message that was answered (with an error) while it was being read."""

    jsonrpc: str = "dropped"


class SafecoderProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):  # type: ignore[override]
        if "jsonrpc" not in data:
            return data
        method = data.get("method")
        if method in RAW_METHODS:
            params = data.get("params")
            if "id" in data:
                return RawRequest(
                    id=data["id"], method=method, jsonrpc=data["jsonrpc"], params=params
                )
            return RawNotification(method=method, jsonrpc=data["jsonrpc"], params=params)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and isinstance(method, str):
                cause = exc.__cause__
                detail = _describe(cause) if cause is not None else str(exc)
                error = JsonRpcInvalidParams(
                    f"invalid params for {method}: {detail}"
                ).to_response_error()
                self._send_response(data["id"], error=error)
                return Dropped()
            raise

    def handle_message(self, message):  # type: ignore[override]
        if isinstance(message, Dropped):
            return
        super().handle_message(message)


def _describe(exc: BaseException) -> str:
    """A short readable account of a cattrs structuring error."""
    try:
        from cattrs.errors import ClassValidationError

        if isinstance(exc, ClassValidationError):
            from cattrs import transform_error

            return "; ".join(transform_error(exc)) or str(exc)
    except Exception:  # pragma: no cover - best effort
        pass
    return str(exc) or exc.__class__.__name__
