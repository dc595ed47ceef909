"""llama.cpp server ``/infill``: the server builds the FIM prompt from its parts.

``input_prefix`` / ``input_suffix`` are the text around the hole, ``prompt`` is
the start of the middle (the text typed on the cursor's line), ``input_extra``
carries other files (``{"filename", "text"}``) as repository-level context. The
stream is ``data: {"content": ..., "stop": bool, ...}``; the last event has
``"stop": true`` with ``stop_type`` (eos | limit | word) and token counts.
"""

from __future__ import annotations

from typing import Any

from engine.base import GenerationRequest
from engine.fim import SERVER_SIDE, FimTemplate
from engine.remote.engine import Event, finish_reason, parts_of, server_stops
from engine.remote.http import Client


class LlamaCppInfill:
    framing = "sse"
    stream_path = "/infill"
    whole_path = "/infill"
    template = SERVER_SIDE
    wants_other_files = True

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        parts = parts_of(request)
        body: dict[str, Any] = {
            "input_prefix": parts.prefix,
            "input_suffix": parts.suffix,
            "prompt": parts.middle_head,
            "input_extra": [{"filename": name, "text": text} for name, text in parts.extra],
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "cache_prompt": True,
            "stream": stream,
        }
        stops = server_stops(request.stop, limit=16)
        if stops:
            body["stop"] = stops
        return body

    def event(self, data: Any) -> Event:
        if not isinstance(data, dict):
            return Event(error=f"unexpected event {str(data)[:80]!r}")
        if "error" in data:
            error = data["error"]
            return Event(error=str(error.get("message") if isinstance(error, dict) else error))
        done = bool(data.get("stop"))
        timings = data.get("timings") or {}
        prompt_n = timings.get("prompt_n") if isinstance(timings, dict) else None
        cached = data.get("tokens_cached")
        evaluated = data.get("tokens_evaluated")
        return Event(
            text=str(data.get("content") or ""),
            finished=done,
            stop_reason=finish_reason(data.get("stop_type")) if done else None,
            prompt_tokens=evaluated if done and isinstance(evaluated, int) else None,
            reused_tokens=(
                evaluated - prompt_n
                if done and isinstance(evaluated, int) and isinstance(prompt_n, int)
                else (cached if done and isinstance(cached, int) else None)
            ),
        )

    def discover(self, client: Client) -> str:
        data = client.get_json("/props")
        if isinstance(data, dict):
            settings = data.get("default_generation_settings") or {}
            return str(data.get("model_path") or settings.get("model") or "")
        return ""


def api(template: FimTemplate | None) -> LlamaCppInfill:
    """Its factory in the engine-kind registry (engine/kinds.py)."""
    return LlamaCppInfill()
