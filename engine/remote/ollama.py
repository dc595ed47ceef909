"""Ollama ``/api/generate``.

With a known FIM template the prompt is sent ``raw`` (our template, the model's
tokens); without one, the prefix goes in ``prompt`` and the rest in ``suffix`` and
Ollama's own model template builds the FIM prompt. The stream is newline-delimited
JSON: ``{"response": ..., "done": false}`` ... ``{"done": true, "done_reason": ...,
"prompt_eval_count": ..., "eval_count": ...}``.
"""

from __future__ import annotations

from typing import Any

from engine.base import GenerationRequest
from engine.fim import SERVER_SIDE, FimTemplate
from engine.remote.engine import Event, finish_reason, parts_of, server_stops
from engine.remote.http import Client


class OllamaGenerate:
    framing = "ndjson"
    stream_path = "/api/generate"
    whole_path = "/api/generate"

    def __init__(self, raw: bool = True) -> None:
        self.raw = raw  # False: let Ollama's template build the FIM prompt
        self.template = None if raw else SERVER_SIDE

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
        }
        stops = server_stops(request.stop, limit=16)
        if stops:
            options["stop"] = stops
        body: dict[str, Any] = {"model": model, "stream": stream, "options": options}
        if self.raw:
            body.update(prompt=request.prompt, raw=True)
        else:
            parts = parts_of(request)
            body.update(prompt=parts.prefix + parts.middle_head, suffix=parts.suffix)
        return body

    def event(self, data: Any) -> Event:
        if not isinstance(data, dict):
            return Event(error=f"unexpected event {str(data)[:80]!r}")
        if "error" in data:
            return Event(error=str(data["error"])[:300])
        done = bool(data.get("done"))
        prompt = data.get("prompt_eval_count")
        return Event(
            text=str(data.get("response") or ""),
            finished=done,
            stop_reason=finish_reason(data.get("done_reason")) if done else None,
            prompt_tokens=prompt if done and isinstance(prompt, int) else None,
        )

    def discover(self, client: Client) -> str:
        return ""  # the model is named in the configuration (engine.model)


def api(template: FimTemplate | None) -> OllamaGenerate:
    """Its factory in the engine-kind registry (engine/kinds.py): with a known template
    the prompt is ours (raw), without one Ollama's model template builds it."""
    return OllamaGenerate(raw=template is not None)
