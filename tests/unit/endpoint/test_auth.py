"""Tokens and rate limits on the real server: missing, wrong and revoked tokens are
401 (revoking takes effect without a restart), the tokens file holds only hashes,
a token over its rate gets 429 with Retry-After and is served again after it."""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
from endpoint_client import FIM_PROMPT, start

from safecoder_lsp.cli import main
from safecoder_lsp.endpoint import tokens
from safecoder_lsp.endpoint.ratelimit import RateLimiter

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def served(backend, tmp_path_factory):
    running = start(backend, tmp_path_factory.mktemp("auth"), users=("alice", "bob"))
    yield running
    running.stop()


def test_a_missing_token_is_401_and_says_how_to_set_it(served):
    for answer in (
        served.complete(token=None, prompt="x"),
        served.request("GET", "/v1/models", token=None),
        served.request("GET", "/metrics", token=None),
        served.request(
            "POST", "/v1/completions", raw=b"{}", token=None, headers={"Authorization": "Basic x"}
        ),
    ):
        assert answer.status == 401
        error = answer.json()["error"]
        assert error["code"] == "missing_api_key" and error["type"] == "authentication_error"
        assert "engine.api_token_file" in error["message"]
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert served.request("GET", "/health", token=None).status == 200


def test_a_wrong_token_is_401(served):
    wrong = "sc-" + "A" * 43
    answer = served.complete(token=wrong, prompt="x")
    assert answer.status == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert wrong not in answer.body.decode()
    assert 'safecoder_endpoint_rejected_total{status="401"}' in served.metrics()


def test_the_tokens_file_holds_hashes_only_with_mode_0600(served):
    text = served.tokens_path.read_text()
    for name, secret in served.secrets.items():
        assert secret.startswith("sc-") and len(secret) >= 40
        assert secret not in text and secret[3:] not in text
        assert tokens.digest(secret) in text
        assert f'"{name}"' in text
    assert stat.S_IMODE(os.stat(served.tokens_path).st_mode) == 0o600
    assert [e.name for e in tokens.read_entries(served.tokens_path)] == ["alice", "bob"]


def test_revoking_and_adding_take_effect_without_a_restart(served, capsys):
    path = str(served.tokens_path)
    assert served.request("GET", "/v1/models", token="bob").status == 200
    assert main(["endpoint", "token", "revoke", "bob", "--tokens", path]) == 0
    answer = served.request("GET", "/v1/models", token="bob")
    assert answer.status == 401 and answer.json()["error"]["code"] == "invalid_api_key"
    assert served.request("GET", "/v1/models", token="alice").status == 200
    capsys.readouterr()
    assert main(["endpoint", "token", "add", "carol", "--tokens", path]) == 0
    carol = capsys.readouterr().out.strip()
    assert served.request("GET", "/v1/models", token=carol).status == 200


def test_completions_are_counted_per_token_name(served):
    assert served.complete(prompt=FIM_PROMPT, max_tokens=2).status == 200
    text = served.metrics()
    assert 'safecoder_endpoint_completions_total{token="alice",finish_reason=' in text


def test_a_rate_limited_token_gets_429_then_is_served_after_waiting(backend, tmp_path):
    # 60 per minute = one a second, bursts of 2
    running = start(backend, tmp_path, limiter=RateLimiter(60, burst=2), users=("alice", "bob"))
    try:
        for _ in range(2):
            assert running.complete(prompt=FIM_PROMPT, max_tokens=1).status == 200
        limited = running.complete(prompt=FIM_PROMPT, max_tokens=1)
        assert limited.status == 429
        retry = int(limited.headers["Retry-After"])
        assert 1 <= retry <= 2
        error = limited.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert "60 requests per minute" in error["message"] and "'alice'" in error["message"]
        # the limit is per token: bob is not limited by alice's use
        assert running.complete(token="bob", prompt=FIM_PROMPT, max_tokens=1).status == 200
        time.sleep(retry)
        assert running.complete(prompt=FIM_PROMPT, max_tokens=1).status == 200
        assert 'safecoder_endpoint_rejected_total{status="429"} 1' in running.metrics()
    finally:
        running.stop()


def test_the_token_bucket_refills_at_the_rate():
    now = [0.0]
    limiter = RateLimiter(120, clock=lambda: now[0])  # burst 20, 2 per second
    assert limiter.burst == 20
    assert all(limiter.check("a") == 0 for _ in range(20))
    wait = limiter.check("a")
    assert wait == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.check("a") == 0
    assert limiter.check("a") > 0
    assert RateLimiter(1).burst == 1 and RateLimiter(0).check("a") == 0


def test_without_auth_every_caller_is_anonymous(backend, tmp_path):
    running = start(backend, tmp_path, auth=False)
    try:
        answer = running.complete(token=None, prompt=FIM_PROMPT, max_tokens=2)
        assert answer.status == 200
        assert 'token="anonymous"' in running.metrics()
    finally:
        running.stop()


def test_a_broken_tokens_file_refuses_every_token(backend, tmp_path):
    running = start(backend, tmp_path)
    try:
        assert running.request("GET", "/v1/models").status == 200
        running.tokens_path.write_text("{broken")
        answer = running.request("GET", "/v1/models")
        assert (
            answer.status == 401 and "tokens file is unusable" in answer.json()["error"]["message"]
        )
        tokens.write_entries(
            running.tokens_path,
            [tokens.TokenEntry("alice", tokens.digest(running.secrets["alice"]), "")],
        )
        assert running.request("GET", "/v1/models").status == 200
    finally:
        running.stop()
    assert json.loads(running.tokens_path.read_text())["version"] == 1
