"""OpenAI-compatible ``/v1/completions`` (vLLM, llama.cpp server, TGI, our endpoint).

The prompt is the FIM prompt built on our side; the stream is server-sent events
``data: {"choices": [{"text": ..., "finish_reason": ...}]}`` ended by ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

from engine.base import GenerationRequest
from engine.fim import FimTemplate
from engine.remote.engine import Event, finish_reason, server_stops
from engine.remote.http import Client


class OpenAICompletions:
    framing = "sse"
    stream_path = "/v1/completions"
    whole_path = "/v1/completions"

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": stream,
        }
        if model:
            body["model"] = model
        stops = server_stops(request.stop)
        if stops:
            body["stop"] = stops
        return body

    def event(self, data: Any) -> Event:
        if not isinstance(data, dict):
            return Event(error=f"unexpected event {str(data)[:80]!r}")
        if "error" in data:
            return Event(error=_message(data["error"]))
        choice = _choice(data)
        reason = choice.get("finish_reason")
        usage = data.get("usage") or {}
        return Event(
            text=str(choice.get("text") or ""),
            finished=reason is not None,
            stop_reason=finish_reason(reason) if reason is not None else None,
            prompt_tokens=usage.get("prompt_tokens") if isinstance(usage, dict) else None,
        )

    def discover(self, client: Client) -> str:
        data = client.get_json("/v1/models")
        models = data.get("data") if isinstance(data, dict) else None
        if isinstance(models, list) and models and isinstance(models[0], dict):
            return str(models[0].get("id") or "")
        return ""


def _choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _message(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def api(template: FimTemplate | None) -> OpenAICompletions:
    """Its factory in the engine-kind registry (engine/kinds.py)."""
    return OpenAICompletions()
