"""The OpenAI completions API as the endpoint speaks it: request fields checked
one by one (a clear message naming the field), answers and errors in its shapes.

Fields other clients send and that do not change the answer (``top_p``, penalties,
``seed``, ``user``, ``stream_options``, ...) are accepted and ignored; fields whose
other values would change it (``n``, ``echo``, ``best_of``, ``logprobs``, token-id
prompts) are refused unless they have their default value.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from engine.base import GenerationStats, StopReason

DEFAULT_MAX_TOKENS = 16  # as in the OpenAI API
MAX_STOPS = 16


class ApiError(Exception):
    """An error answer: HTTP status and the OpenAI error object."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        code: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_field(name: str, message: str) -> ApiError:
    return ApiError(400, f"'{name}' {message}", code="invalid_value", param=name)


@dataclass(frozen=True)
class CompletionParams:
    prompt: str
    model: str = ""
    suffix: str | None = None
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    stream: bool = False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) == 1 and isinstance(value[0], str):
            return value[0]
        if value and all(_is_int(v) for v in value):
            raise bad_field("prompt", "as token ids is not supported: send the prompt as text.")
        raise bad_field("prompt", f"must be a string or a list of one string (got {len(value)}).")
    if value is None:
        raise bad_field("prompt", "is required.")
    raise bad_field("prompt", f"must be a string, not {type(value).__name__}.")


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        if len(value) > MAX_STOPS:
            raise bad_field("stop", f"holds {len(value)} sequences; at most {MAX_STOPS}.")
        return tuple(value)
    raise bad_field("stop", "must be a string or a list of strings.")


def _only(data: dict[str, Any], name: str, allowed: Any, say: str) -> None:
    value = data.get(name)
    if value is not None and value != allowed:
        raise bad_field(name, f"must be {say}: {json_repr(value)} is not supported.")


def json_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_completion(data: Any, *, max_tokens_cap: int) -> CompletionParams:
    """The completion request in ``data`` (parsed JSON); raises ApiError (400)."""
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object.", code="invalid_json")
    prompt = _prompt(data.get("prompt"))
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_field("model", "must be a string.")
    suffix = data.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise bad_field("suffix", "must be a string.")
    max_tokens = data.get("max_tokens")
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    elif not _is_int(max_tokens) or max_tokens < 1:
        raise bad_field("max_tokens", f"must be a whole number of at least 1, not {max_tokens!r}.")
    temperature = data.get("temperature")
    if temperature is None:
        temperature = 0.0
    elif not _is_number(temperature) or not 0 <= temperature <= 2:
        raise bad_field("temperature", f"must be a number from 0 to 2, not {temperature!r}.")
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_field("stream", "must be true or false.")
    n = data.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        raise bad_field("n", f"must be 1: one completion per request ({json_repr(n)} asked).")
    _only(data, "echo", False, "false")
    _only(data, "best_of", 1, "1")
    if data.get("logprobs") not in (None, 0):
        raise bad_field("logprobs", "is not supported: leave it out or null.")
    return CompletionParams(
        prompt=prompt,
        model=model or "",
        suffix=suffix,
        max_tokens=min(max_tokens, max_tokens_cap),
        temperature=float(temperature),
        stop=_stop(data.get("stop")),
        stream=bool(stream),
    )


def finish_reason(stats: GenerationStats | None) -> str:
    reason = stats.stop_reason if stats else None
    if reason in (StopReason.MAX_TOKENS, StopReason.CONTEXT_FULL):
        return "length"
    return "stop"


def completion_id() -> str:
    return "cmpl-" + secrets.token_hex(12)


@dataclass
class Answer:
    """The parts every completion object of one request shares."""

    id: str
    model: str
    created: int = field(default_factory=lambda: int(time.time()))

    def object(
        self,
        text: str,
        finish: str | None,
        *,
        references: list[dict[str, Any]] | None = None,
        usage: dict[str, int] | None = None,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "text": text,
            "index": 0,
            "logprobs": None,
            "finish_reason": finish,
        }
        if references is not None:
            choice["references"] = references
        body: dict[str, Any] = {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
        }
        if usage is not None:
            body["usage"] = usage
        return body


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
