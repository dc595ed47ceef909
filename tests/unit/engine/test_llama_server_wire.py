"""What the real llama.cpp ``llama-server`` (llama-cpp-python 0.3.36's vendored sources)
says on the wire, with the real default model: the facts our HTTP client relies on.

One server for the module (tests/support/llama_server.py builds it once, ~9 minutes on
2 cores, then it is cached); every request asks for a few tokens at temperature 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support.llama_server import request, serve

# The first run on a machine builds llama-server inside the fixture (~9 minutes on 2
# cores), past the suite's 300 s default timeout.
pytestmark = [pytest.mark.model, pytest.mark.build, pytest.mark.timeout(1800)]

PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n"
INFILL: dict[str, Any] = {
    "input_prefix": PREFIX,
    "input_suffix": SUFFIX,
    "prompt": "",
    "input_extra": [{"filename": "util.py", "text": "def sub(a, b):\n    return a - b\n"}],
    "n_predict": 16,
    "temperature": 0,
    "stop": ["\n"],
    "cache_prompt": True,
}
FIM_PROMPT = f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
V1: dict[str, Any] = {"prompt": FIM_PROMPT, "max_tokens": 16, "temperature": 0, "stop": ["\n"]}

# The fields of a finished non-OAI (/infill, /completion) answer, and of the last event
# of its stream.
FINAL_FIELDS = {
    "index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted",
    "tokens_evaluated", "generation_settings", "prompt", "has_new_line", "truncated",
    "stop_type", "stopping_word", "tokens_cached", "timings",
}  # fmt: skip
TIMINGS_FIELDS = {
    "cache_n", "prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second",
    "predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second",
}  # fmt: skip
# A streamed token of /infill (the last one also carries "timings").
PARTIAL_FIELDS = {
    "index", "content", "tokens", "stop", "id_slot", "tokens_predicted", "tokens_evaluated",
}  # fmt: skip


@pytest.fixture(scope="module")
def server(model_path, llama_server_binary) -> Iterator[str]:
    with serve(model_path) as url:
        yield url


def post_json(url: str, path: str, body: dict) -> dict:
    status, headers, raw = request(url, "POST", path, body)
    assert status == 200, raw
    assert headers["content-type"] == "application/json; charset=utf-8"
    return json.loads(raw)


def sse_data(raw: bytes) -> list[str]:
    """The ``data:`` payloads, asserting the framing: one ``data: ...`` line per event,
    each followed by one blank line, nothing else (no ``event:``/``id:``, no pings)."""
    text = raw.decode()
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    for block in blocks:
        assert block.startswith("data: "), block
        assert "\n" not in block, block
    return [block.removeprefix("data: ") for block in blocks]


def post_sse(url: str, path: str, body: dict) -> list[str]:
    status, headers, raw = request(url, "POST", path, {**body, "stream": True})
    assert status == 200, raw
    assert headers["content-type"] == "text/event-stream"
    assert headers["transfer-encoding"] == "chunked"
    assert headers.get("x-accel-buffering") == "no"
    return sse_data(raw)


def looks_like_a_plus_b(text: str) -> bool:
    return "a" in text and "+" in text and "b" in text


def test_health(server):
    status, _, raw = request(server, "GET", "/health")
    assert (status, json.loads(raw)) == (200, {"status": "ok"})


def test_infill_non_streaming(server):
    answer = post_json(server, "/infill", INFILL)
    assert set(answer) == FINAL_FIELDS
    assert set(answer["timings"]) == TIMINGS_FIELDS
    content = answer["content"]
    assert isinstance(content, str)
    assert looks_like_a_plus_b(content), content
    # the stop string ends the completion and is not part of it
    assert "\n" not in content
    assert answer["stop"] is True
    assert answer["stop_type"] == "word"
    assert answer["stopping_word"] == "\n"
    assert answer["truncated"] is False
    assert answer["tokens"] == []  # token ids only come with streamed events
    assert 0 < answer["tokens_predicted"] <= INFILL["n_predict"]
    timings = answer["timings"]
    assert answer["tokens_evaluated"] == timings["prompt_n"] + timings["cache_n"]
    assert timings["predicted_n"] == answer["tokens_predicted"]
    assert answer["generation_settings"]["n_predict"] == INFILL["n_predict"]
    # How the prompt is built (Qwen2.5-Coder has repo and file-separator tokens): a fixed
    # repository name, input_extra as files, then the current file, always named
    # "filename", holding the FIM prefix/suffix; nothing comes after <|fim_middle|>.
    assert answer["prompt"] == (
        "<|repo_name|>myproject\n"
        "<|file_sep|>util.py\ndef sub(a, b):\n    return a - b\n"
        "<|file_sep|>filename\n"
        f"<|fim_prefix|>{PREFIX}<|fim_suffix|>{SUFFIX}<|fim_middle|>"
    )


def test_infill_prompt_and_extra_layout(server):
    short = {**INFILL, "n_predict": 4}
    # "prompt" is appended to the prefix (before <|fim_suffix|>), not after <|fim_middle|>;
    # the answer continues after it and does not repeat it.
    answer = post_json(server, "/infill", {**short, "prompt": "a", "input_extra": []})
    assert answer["prompt"] == (
        "<|repo_name|>myproject\n<|file_sep|>filename\n"
        f"<|fim_prefix|>{PREFIX}a<|fim_suffix|>{SUFFIX}<|fim_middle|>"
    )
    assert "+" in answer["content"]
    assert not answer["content"].startswith("a")
    # no input_extra at all: the same frame; an extra chunk without a filename is "tmp"
    answer = post_json(server, "/infill", {k: v for k, v in short.items() if k != "input_extra"})
    assert answer["prompt"].startswith("<|repo_name|>myproject\n<|file_sep|>filename\n<|fim")
    answer = post_json(server, "/infill", {**short, "input_extra": [{"text": "x = 1\n"}]})
    assert answer["prompt"].startswith("<|repo_name|>myproject\n<|file_sep|>tmp\nx = 1\n")


def test_infill_prompt_cache(server):
    post_json(server, "/infill", INFILL)
    again = post_json(server, "/infill", INFILL)
    # the identical prompt is reused from the slot's KV cache except its last token
    assert again["timings"]["prompt_n"] == 1
    assert again["timings"]["cache_n"] == again["tokens_evaluated"] - 1
    assert again["tokens_cached"] == again["tokens_evaluated"] + again["tokens_predicted"] - 1


def test_infill_streaming(server):
    plain = post_json(server, "/infill", INFILL)
    data = post_sse(server, "/infill", INFILL)
    assert "[DONE]" not in data  # /infill (not OpenAI-compatible) sends no [DONE]
    events = [json.loads(d) for d in data]
    *tokens, last = events
    assert tokens
    # one event per generated token, with its id; id_slot is -1 until the final event
    for n, event in enumerate(tokens, 1):
        assert set(event) - {"timings"} == PARTIAL_FIELDS
        assert event["stop"] is False
        assert event["id_slot"] == -1
        assert event["tokens_predicted"] == n
        assert len(event["tokens"]) == 1
    assert "timings" in tokens[-1]
    # the token that matched the stop string is still sent, with empty content
    assert tokens[-1]["content"] == ""
    # the last event is the full final answer (as non-streaming) with empty content
    assert set(last) == FINAL_FIELDS
    assert last["stop"] is True
    assert last["content"] == ""
    assert last["stop_type"] == "word"
    assert last["id_slot"] == 0
    assert last["tokens_predicted"] == len(tokens)
    assert "".join(e["content"] for e in events) == plain["content"]


def test_infill_missing_field_is_a_server_error(server):
    # Surprise: a missing input_suffix is not a 400 but an unhandled JSON exception
    status, headers, raw = request(server, "POST", "/infill", {"input_prefix": "x"})
    assert status == 500
    assert headers["connection"] == "close"
    error = json.loads(raw)["error"]
    assert error["type"] == "server_error"
    assert "input_suffix" in error["message"]


def test_v1_completions_non_streaming(server):
    answer = post_json(server, "/v1/completions", V1)
    assert answer["object"] == "text_completion"
    assert answer["id"].startswith("chatcmpl-")  # sic, also for text completions
    [choice] = answer["choices"]
    assert choice["index"] == 0
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    assert looks_like_a_plus_b(choice["text"]), choice["text"]
    assert "\n" not in choice["text"]
    usage = answer["usage"]
    # the FIM markers in the prompt text are parsed as special tokens (13 tokens in
    # all; as plain text each marker would be several)
    assert usage["prompt_tokens"] < 20
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert "cached_tokens" in usage["prompt_tokens_details"]
    assert "timings" in answer  # llama.cpp extension


def test_v1_completions_streaming(server):
    plain = post_json(server, "/v1/completions", V1)
    data = post_sse(server, "/v1/completions", V1)
    assert data[-1] == "[DONE]"  # OpenAI style: the stream ends with data: [DONE]
    events = [json.loads(d) for d in data[:-1]]
    *tokens, last = events
    assert tokens
    for event in tokens:
        assert event["object"] == "text_completion"
        assert event["choices"][0]["finish_reason"] is None
        assert "usage" not in event
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["choices"][0]["text"] == ""
    assert last["usage"]["completion_tokens"] == len(tokens)
    assert len({e["id"] for e in events}) == 1
    text = "".join(e["choices"][0]["text"] for e in events)
    assert text == plain["choices"][0]["text"]
