"""The endpoint's routes over real HTTP, with the real default model: completions
whole and streamed, the suffix field, health, models, metrics, and the checks that
refuse a request (400, 404, 405, 411, 413, 503)."""

from __future__ import annotations

import http.client
import json
import threading
import time

import pytest
from endpoint_client import FIM_PROMPT, free_text, start

from engine.base import CancelToken, GenerationRequest
from safecoder_lsp.endpoint.server import Limits

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def served(backend, tmp_path_factory):
    running = start(
        backend,
        tmp_path_factory.mktemp("completions"),
        limits=Limits(max_request_bytes=64 * 1024, max_tokens=12, queue_limit=1),
    )
    yield running
    running.stop()


def test_a_fim_prompt_is_completed(served):
    answer = served.complete(prompt=FIM_PROMPT, max_tokens=6, model="my-model")
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["id"].startswith("cmpl-") and answer.headers["X-Request-Id"] == body["id"]
    assert body["object"] == "text_completion" and isinstance(body["created"], int)
    assert body["model"] == "my-model"  # echoed
    (choice,) = body["choices"]
    assert free_text(choice["text"]).startswith("a+b")
    assert choice["index"] == 0 and choice["logprobs"] is None
    assert choice["finish_reason"] in ("stop", "length")
    assert "references" not in choice  # no index here
    use = body["usage"]
    assert 0 < use["completion_tokens"] <= 6 and use["prompt_tokens"] > 5
    assert use["total_tokens"] == use["prompt_tokens"] + use["completion_tokens"]


def test_a_streamed_completion_is_the_same_text_in_events(served):
    whole = served.complete(prompt=FIM_PROMPT, max_tokens=6).json()
    answer = served.complete(prompt=[FIM_PROMPT], max_tokens=6, stream=True)
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    events = answer.events()
    assert events[-1] == "[DONE]"
    *pieces, final = events[:-1]
    assert len(pieces) >= 2  # streamed piece by piece
    assert all(p["choices"][0]["finish_reason"] is None for p in pieces)
    assert len({p["id"] for p in events[:-1]}) == 1
    text = "".join(p["choices"][0]["text"] for p in pieces)
    assert text == whole["choices"][0]["text"]  # greedy: the same text
    assert final["choices"][0]["finish_reason"] == whole["choices"][0]["finish_reason"]
    assert final["choices"][0]["text"] == ""
    assert final["usage"]["completion_tokens"] == whole["usage"]["completion_tokens"]


def test_the_suffix_field_builds_the_fim_prompt(served):
    raw = served.complete(prompt=FIM_PROMPT, max_tokens=6).json()
    split = served.complete(prompt="def add(a, b):\n    return ", suffix="\n", max_tokens=6).json()
    assert split["choices"][0]["text"] == raw["choices"][0]["text"]
    assert free_text(split["choices"][0]["text"]).startswith("a+b")


def test_stop_words_and_the_token_cap(served):
    stopped = served.complete(prompt=FIM_PROMPT, max_tokens=8, stop="\n").json()
    assert "\n" not in stopped["choices"][0]["text"]
    assert stopped["choices"][0]["finish_reason"] == "stop"
    counting = "numbers = [" + ", ".join(str(i) for i in range(1, 30)) + ","
    capped = served.complete(prompt=counting, max_tokens=10_000).json()
    assert capped["usage"]["completion_tokens"] == 12  # --max-tokens
    assert capped["choices"][0]["finish_reason"] == "length"


def test_health_needs_no_token_and_models_lists_the_file(served):
    health = served.request("GET", "/health", token=None)
    assert health.status == 200
    assert health.json() == {
        "status": "ok",
        "model": "qwen2.5-coder-0.5b-q4_k_m.gguf",
        "queued": 0,
        "active": 0,
    }
    models = served.request("GET", "/v1/models").json()
    assert models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["qwen2.5-coder-0.5b-q4_k_m.gguf"]


def test_metrics_count_requests_and_tokens_but_hold_no_code(served):
    def value(text: str, line_start: str) -> float:
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.split()[-1])
        return 0.0

    before = served.metrics()
    prompt = "<|fim_prefix|>def secret_function_name(x):\n    return <|fim_suffix|><|fim_middle|>"
    assert served.complete(prompt=prompt, max_tokens=4).status == 200
    ok = 'safecoder_endpoint_requests_total{route="/v1/completions",status="200"}'
    deadline = time.monotonic() + 10
    # a request is counted when its answer has been sent: moments after the client has it
    while value(after := served.metrics(), ok) == value(before, ok):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert value(after, ok) == value(before, ok) + 1
    generated = 'safecoder_endpoint_generated_tokens_total{token="alice"}'
    assert value(after, generated) > value(before, generated)
    assert value(after, 'safecoder_endpoint_prompt_tokens_total{token="alice"}') > 0
    count = "safecoder_endpoint_time_to_first_token_seconds_count"
    assert value(after, count) == value(before, count) + 1
    assert (
        'safecoder_endpoint_request_duration_seconds_bucket{route="/v1/completions",le="+Inf"}'
        in (after)
    )
    assert "# TYPE safecoder_endpoint_request_duration_seconds histogram" in after
    assert "safecoder_endpoint_queue_length 0" in after
    assert "secret_function_name" not in after and "return" not in after
    assert served.secrets["alice"] not in after


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 4}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": "x", "max_tokens": "8"}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
        ({"prompt": "x", "temperature": 5}, "temperature"),
        ({"prompt": "x", "stop": [1]}, "stop"),
        ({"prompt": "x", "stream": "yes"}, "stream"),
        ({"prompt": "x", "n": 2}, "n"),
        ({"prompt": "x", "echo": True}, "echo"),
        ({"prompt": "x", "suffix": 3}, "suffix"),
        ({"prompt": "x", "model": ["m"]}, "model"),
    ],
)
def test_bad_fields_are_400_naming_the_field(served, body, field):
    answer = served.complete(**body)
    assert answer.status == 400
    error = answer.json()["error"]
    assert f"'{field}'" in error["message"]
    assert error["type"] == "invalid_request_error" and error["param"] == field


def test_bad_json_and_a_non_object_are_400(served):
    answer = served.request("POST", "/v1/completions", raw=b"{not json")
    assert answer.status == 400 and "not valid JSON" in answer.json()["error"]["message"]
    answer = served.request("POST", "/v1/completions", raw=b"[1, 2]")
    assert answer.status == 400 and "JSON object" in answer.json()["error"]["message"]


def test_unknown_routes_and_methods(served):
    assert served.request("GET", "/v2/nothing").status == 404
    wrong = served.request("GET", "/v1/completions")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert "error" in wrong.json()


def test_a_body_over_the_limit_is_413_before_it_is_read(served):
    conn = served.connection()
    # announce a large body but send none: the answer must not wait for it
    conn.putrequest("POST", "/v1/completions")
    conn.putheader("Authorization", f"Bearer {served.secrets['alice']}")
    conn.putheader("Content-Length", str(10 << 20))
    conn.endheaders()
    answer = conn.getresponse()
    assert answer.status == 413
    assert "--max-request-bytes" in json.loads(answer.read())["error"]["message"]
    conn.close()
    no_length = served.connection()
    no_length.putrequest("POST", "/v1/completions")
    no_length.putheader("Authorization", f"Bearer {served.secrets['alice']}")
    no_length.endheaders()
    assert no_length.getresponse().status == 411
    no_length.close()


def test_a_prompt_longer_than_the_context_is_413(served):
    prompt = "x = compute(value) + other_value * 3\n" * 600  # about 6000 tokens > 2048
    answer = served.complete(prompt=prompt, max_tokens=1)
    assert answer.status == 413
    error = answer.json()["error"]
    assert error["code"] == "context_length_exceeded" and "2048" in error["message"]


def test_a_full_queue_is_503(served, backend):
    release = threading.Event()
    # holds the engine until released: should_stop is asked after every token
    held = backend.submit(
        GenerationRequest("x = 1", max_tokens=2, should_stop=lambda _: not release.wait(30)),
        CancelToken(),
        user="holder",
    )
    deadline = time.monotonic() + 30
    while backend.stats()["active"] < 1:
        assert time.monotonic() < deadline, "the engine was never held"
        time.sleep(0.01)
    waiting = served.connection()
    try:
        waiting.request(
            "POST",
            "/v1/completions",
            body=json.dumps({"prompt": "# more\n", "max_tokens": 4}),
            headers={"Authorization": f"Bearer {served.secrets['alice']}"},
        )
        deadline = time.monotonic() + 30
        while served.request("GET", "/health", token=None).json()["queued"] < 1:
            assert time.monotonic() < deadline, "the request never queued"
            time.sleep(0.02)
        full = served.complete(prompt="x", max_tokens=1)
        assert full.status == 503
        assert full.headers["Retry-After"] == "1"
        assert "--queue-limit" in full.json()["error"]["message"]
        metrics = served.metrics()
        assert 'safecoder_endpoint_rejected_total{status="503"} 1' in metrics, metrics
    finally:
        waiting.close()  # hung up while queued: taken out of the queue, never run
        release.set()
    assert "".join(held) and held.error is None
    deadline = time.monotonic() + 30
    while (h := served.request("GET", "/health", token=None).json())["queued"] or h["active"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_keep_alive_serves_several_requests_on_one_connection(served):
    conn = served.connection()
    headers = {"Authorization": f"Bearer {served.secrets['alice']}"}
    for _ in range(2):
        conn.request("GET", "/v1/models", headers=headers)
        answer = conn.getresponse()
        assert answer.status == 200
        answer.read()
    conn.request(
        "POST", "/v1/completions", body=json.dumps({"prompt": "x", "n": 3}), headers=headers
    )
    answer = conn.getresponse()
    assert answer.status == 400
    answer.read()
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200
    conn.close()
    assert isinstance(conn, http.client.HTTPConnection)
