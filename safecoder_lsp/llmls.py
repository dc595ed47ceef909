"""The llm-ls wire format used by the Hugging Face plugins (llm-vscode, llm.nvim,
llm-intellij): ``llm-ls/getCompletions``, ``llm-ls/acceptCompletion``,
``llm-ls/rejectCompletion``.

Params arrive camelCase (``textDocument``, ``tokensToClear``, ``requestId``);
some third-party clients send snake_case: both are accepted. Results are
snake_case (``request_id``, ``generated_text``) as llm-ls returns them.

A ``backend``/``url``/``apiToken``/``model`` sent by a plugin is a request, not an
order: ``safecoder_lsp.plugin_backend`` decides whether it is honoured.

The server adds a ``references`` list to each completion (matches with indexed code,
see ``safecoder_lsp.references.as_json``); the plugins ignore fields they do not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class LlmLsParamsError(ValueError):
    pass


def _get(d: Mapping[str, Any], camel: str, default: Any = None) -> Any:
    if camel in d:
        return d[camel]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return d.get(snake, default)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LlmLsParamsError(f"{what} must be an integer, got {value!r}")
    return value


@dataclass(frozen=True)
class GetCompletionsParams:
    uri: str
    line: int
    character: int
    tokens_to_clear: tuple[str, ...] = ()
    backend: str = ""
    url: str = ""
    model: str = ""
    api_token: str = field(default="", repr=False)
    ide: str = ""
    fim: Mapping[str, Any] = field(default_factory=dict)
    context_window: int | None = None

    @property
    def api_token_sent(self) -> bool:
        return bool(self.api_token)


def parse_get_completions(params: Any) -> GetCompletionsParams:
    if not isinstance(params, Mapping):
        raise LlmLsParamsError("params must be an object with textDocument and position")
    doc = _get(params, "textDocument")
    pos = params.get("position")
    if not isinstance(doc, Mapping) or not isinstance(doc.get("uri"), str):
        raise LlmLsParamsError("textDocument.uri is missing")
    if not isinstance(pos, Mapping):
        raise LlmLsParamsError("position is missing")
    clear = _get(params, "tokensToClear") or ()
    if not isinstance(clear, list | tuple) or not all(isinstance(t, str) for t in clear):
        raise LlmLsParamsError(f"tokensToClear must be a list of strings, got {clear!r}")
    fim = params.get("fim") or {}
    window = _get(params, "contextWindow")
    token = _get(params, "apiToken")
    return GetCompletionsParams(
        uri=doc["uri"],
        line=_int(pos.get("line"), "position.line"),
        character=_int(pos.get("character"), "position.character"),
        tokens_to_clear=tuple(clear),
        backend=str(params.get("backend") or ""),
        url=str(params.get("url") or ""),
        model=str(params.get("model") or ""),
        api_token=token if isinstance(token, str) else "",
        ide=str(params.get("ide") or ""),
        fim=fim if isinstance(fim, Mapping) else {},
        context_window=window if isinstance(window, int) and not isinstance(window, bool) else None,
    )


def request_id_of(params: Any) -> str:
    if not isinstance(params, Mapping):
        raise LlmLsParamsError("params must be an object with requestId")
    rid = _get(params, "requestId")
    if not isinstance(rid, str) or not rid:
        raise LlmLsParamsError("requestId is missing")
    return rid


def clear_tokens(text: str, tokens: tuple[str, ...]) -> str:
    for token in tokens:
        if token:
            text = text.replace(token, "")
    return text


def completions_result(
    request_id: str, texts: list[str], references: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The getCompletions result; with ``references``, each completion carries them."""
    completions: list[dict[str, Any]] = []
    for text in texts:
        item: dict[str, Any] = {"generated_text": text}
        if references is not None:
            item["references"] = list(references)
        completions.append(item)
    return {"request_id": request_id, "completions": completions}
