"""Hugging Face Text Generation Inference: ``/generate`` and ``/generate_stream``.

Stream events are ``data:{"token": {"text": ..., "special": bool}, "generated_text":
null | str, "details": ...}``; the last one carries ``generated_text`` (and, when
asked, ``details.finish_reason``: length | eos_token | stop_sequence). Errors arrive
as ``{"error": ..., "error_type": ...}``. TGI refuses more than four stop sequences
by default (``max_stop_sequences``).
"""

from __future__ import annotations

from typing import Any

from engine.base import GenerationRequest
from engine.fim import FimTemplate
from engine.remote.engine import Event, finish_reason, server_stops
from engine.remote.http import Client


class TgiGenerate:
    framing = "sse"
    stream_path = "/generate_stream"
    whole_path = "/generate"

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]:
        parameters: dict[str, Any] = {
            "max_new_tokens": request.max_tokens,
            "return_full_text": False,
            "details": True,
        }
        if request.temperature > 0:
            parameters.update(do_sample=True, temperature=request.temperature)
        else:
            parameters["do_sample"] = False
        stops = server_stops(request.stop)
        if stops:
            parameters["stop"] = stops
        return {"inputs": request.prompt, "parameters": parameters, "stream": stream}

    def event(self, data: Any) -> Event:
        if not isinstance(data, dict):
            return Event(error=f"unexpected event {str(data)[:80]!r}")
        if "error" in data:
            # A validation error (e.g. a prompt too long) is the request's fault.
            fault = data.get("error_type") != "validation"
            return Event(error=str(data["error"])[:300], endpoint_fault=fault)
        token = data.get("token") or {}
        text = "" if token.get("special") else str(token.get("text") or "")
        done = data.get("generated_text") is not None
        details = data.get("details") or {}
        return Event(
            text=text,
            finished=done,
            stop_reason=finish_reason(details.get("finish_reason")) if done else None,
            prompt_tokens=details.get("input_length") if details else None,
        )

    def whole(self, data: Any) -> Event:
        if isinstance(data, list) and data:
            data = data[0]  # older TGI versions answer a list
        if not isinstance(data, dict):
            return Event(error=f"unexpected answer {str(data)[:80]!r}")
        if "error" in data:
            return Event(error=str(data["error"])[:300])
        details = data.get("details") or {}
        prefill = details.get("prefill")
        return Event(
            text=str(data.get("generated_text") or ""),
            finished=True,
            stop_reason=finish_reason(details.get("finish_reason")),
            prompt_tokens=len(prefill) if isinstance(prefill, list) and prefill else None,
        )

    def discover(self, client: Client) -> str:
        data = client.get_json("/info")
        return str(data.get("model_id") or "") if isinstance(data, dict) else ""


def api(template: FimTemplate | None) -> TgiGenerate:
    """Its factory in the engine-kind registry (engine/kinds.py)."""
    return TgiGenerate()
