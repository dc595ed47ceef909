"""A Hugging Face plugin that names its own endpoint (llm-vscode's llm.url/llm.backend,
sent with every llm-ls/getCompletions): honoured when it is inside the network and the
admin policy does not pin the engine, refused with a message otherwise (the configured
engine answers). The endpoint is our real team endpoint on 127.0.0.1 with API tokens;
its /metrics page counts the requests it served (only with a valid token) and those it
refused (401), which proves where an answer came from and which token went with it.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from pathlib import Path

import pytest
from audit_session import audited_session, connects
from endpoints import add_token, free_port, team_endpoint
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    messages,
    open_doc,
    send_raw_request,
    session,
    stats,
    wait_for_message,
)
from lsprotocol import types as t

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def on_env(clean_env) -> dict[str, str]:
    """The user turned plugin endpoints on (user-level: here the environment)."""
    return {**clean_env, "SAFECODER_NETWORK_PLUGIN_ENDPOINTS": "true"}


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, clean_env) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("plugin-tokens") / "tokens.json"
    return path, add_token("plugin-user", path, clean_env)


@pytest.fixture(scope="module")
def endpoint(clean_env, tokens):
    env = {**clean_env, "SAFECODER_ENGINE_N_THREADS": "1"}
    with team_endpoint(["--tokens", str(tokens[0]), "--slots", "2"], env) as url:
        yield url


def completion_requests(url: str, token: str, statuses: tuple[str, ...] = ()) -> int:
    """/v1/completions requests the endpoint has seen, with these HTTP statuses (all
    when none are named). 200 and 499 (our client closed the stream once the line was
    complete) are the ones it served; 401 a missing or wrong token."""
    request = urllib.request.Request(url + "/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    pattern = r'safecoder_endpoint_requests_total\{route="/v1/completions",status="(\d+)"\} (\d+)'
    found = re.findall(pattern, text)
    return sum(int(n) for status, n in found if not statuses or status in statuses)


SERVED = ("200", "499")


async def reaches(url: str, token: str, expected: int, statuses=SERVED) -> int:
    """The count once it is ``expected`` (the endpoint counts a request after its last
    byte went out, or after it noticed the client left), or what it is after 5 s."""
    for _ in range(50):
        count = completion_requests(url, token, statuses)
        if count >= expected:
            return count
        await asyncio.sleep(0.1)
    return count


MUL_PREFIX = "def mul(a, b):\n    return "
SUB_PREFIX = "def sub(a, b):\n    return "


def plugin_params(
    uri: str, url: str, backend: str = "openai", token: str | None = None, prefix=ADD_PREFIX
) -> dict:
    """llm-vscode's getCompletions with llm.backend / llm.url set to a team endpoint
    (what llm-ls posts to: the URL with its API path) and FIM tokens for Qwen."""
    line, character = end_of(prefix)
    params = {
        "position": {"line": line, "character": character},
        "textDocument": {"uri": uri},
        "model": "qwen2.5-coder",
        "backend": backend,
        "url": url + "/v1/completions",
        "tokensToClear": ["<|endoftext|>"],
        "requestBody": {"parameters": {"max_new_tokens": 60, "temperature": 0.2}},
        "fim": {
            "enabled": True,
            "prefix": "<|fim_prefix|>",
            "middle": "<|fim_middle|>",
            "suffix": "<|fim_suffix|>",
        },
        "contextWindow": 2048,
        "tlsSkipVerifyInsecure": False,
        "ide": "vscode",
        "disableUrlPathCompletion": False,
    }
    if token is not None:
        params["apiToken"] = token
    return params


async def get(client, params: dict, msg_id: str, prefix: str = ADD_PREFIX) -> str:
    open_doc(client, params["textDocument"]["uri"], prefix + ADD_SUFFIX)
    result = await send_raw_request(client, "llm-ls/getCompletions", params, msg_id)
    return "".join(c["generated_text"] for c in result["completions"])


async def test_the_plugins_endpoint_answers_with_the_plugins_token(on_env, endpoint, tokens):
    before = completion_requests(endpoint, tokens[1], SERVED)
    async with session(on_env, caps("vscode")) as client:  # configured: the local model
        text = await get(client, plugin_params("file:///w/p1.py", endpoint, token=tokens[1]), "p1")
        assert "a + b" in text
        message = await wait_for_message(client, "the endpoint the plugin names")
        assert endpoint in message and tokens[1] not in message
        assert (await stats(client))["plugin_endpoint"] == endpoint
        # The answer came from the endpoint, under the plugin's token.
        assert await reaches(endpoint, tokens[1], before + 1) == before + 1
        # Another function: the same client again (a new answer, not the cache's).
        params = plugin_params("file:///w/p2.py", endpoint, token=tokens[1], prefix=MUL_PREFIX)
        text = await get(client, params, "p2", MUL_PREFIX)
        assert "a * b" in text
        assert await reaches(endpoint, tokens[1], before + 2) == before + 2


async def test_without_the_plugins_token_the_endpoint_refuses_and_the_user_is_told(
    on_env, endpoint, tokens
):
    # The configured token (SAFECODER_API_TOKEN) is the team's; it is never sent to
    # an endpoint a plugin chose: without its own apiToken the plugin gets a 401.
    env = {**on_env, "SAFECODER_API_TOKEN": tokens[1]}
    before = completion_requests(endpoint, tokens[1], SERVED)
    refused = completion_requests(endpoint, tokens[1], ("401",))
    async with session(env, caps("vscode")) as client:
        assert await get(client, plugin_params("file:///w/p3.py", endpoint), "p3") == ""
        assert await reaches(endpoint, tokens[1], refused + 1, ("401",)) == refused + 1
        message = await wait_for_message(client, "refused the token")
        assert "401" in message and "the plugin's own" in message
    assert completion_requests(endpoint, tokens[1], SERVED) == before


async def test_a_public_plugin_url_is_refused_and_never_contacted(on_env, tmp_path):
    audit = tmp_path / "audit.jsonl"
    async with audited_session(on_env, audit) as client:
        params = plugin_params("file:///w/p4.py", "http://93.184.216.34:8080", backend="tgi")
        text = await get(client, params, "p4")
        assert "a + b" in text  # the configured engine (the local model) answered
        message = await wait_for_message(client, "is not used")
        assert "93.184.216.34" in message and "network.allowed_hosts" in message
        assert "engine.kind = llamacpp" in message
    assert not [c for c in connects(audit) if c[0] == "93.184.216.34"]


async def test_an_admin_policy_that_pins_the_engine_wins_over_the_plugin(
    on_env, endpoint, tokens, tmp_path
):
    policy = tmp_path / "policy.toml"
    policy.write_text('[engine]\nkind = "llamacpp"\n')
    env = {**on_env, "SAFECODER_POLICY": str(policy)}
    before = completion_requests(endpoint, tokens[1])
    async with session(env, caps("vscode")) as client:
        text = await get(client, plugin_params("file:///w/p5.py", endpoint, token=tokens[1]), "p5")
        assert "a + b" in text
        message = await wait_for_message(client, "is not used")
        assert "engine.kind is pinned" in message and str(policy) in message
        assert (await stats(client))["plugin_endpoint"] is None
    assert completion_requests(endpoint, tokens[1]) == before  # not one request


async def test_a_plugins_endpoint_that_is_down_is_named_by_the_plugins_setting(on_env):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with session(on_env, caps("vscode")) as client:
        assert await get(client, plugin_params("file:///w/p6.py", url), "p6") == ""
        message = await wait_for_message(client, "is not running")
        assert url in message and "the plugin's url (llm.url)" in message
        assert "engine.url" not in message


async def test_workspace_settings_reach_the_plugins_endpoint_without_dropping_it(
    on_env, endpoint, tokens
):
    """A configuration change that leaves the engine alone keeps the plugin's client
    (a request in flight is not cut) and its completion settings apply there too."""
    before = completion_requests(endpoint, tokens[1], SERVED)
    async with session(on_env, caps("vscode")) as client:
        params = plugin_params("file:///w/p7.py", endpoint, token=tokens[1])
        assert "a + b" in await get(client, params, "p7")
        client.workspace_did_change_configuration(
            t.DidChangeConfigurationParams(
                settings={"safecoder": {"completion": {"single_line_max_tokens": 2}}}
            )
        )
        params = plugin_params("file:///w/p8.py", endpoint, token=tokens[1], prefix=MUL_PREFIX)
        text = await get(client, params, "p8", MUL_PREFIX)
        assert text and "a * b" not in text  # 2 tokens ("a", " *"): the new setting
        params = plugin_params("file:///w/p9.py", endpoint, token=tokens[1], prefix=SUB_PREFIX)
        text = await get(client, params, "p9", SUB_PREFIX)
        assert await reaches(endpoint, tokens[1], before + 3) == before + 3
        assert not [m for m in messages(client) if "closed" in m]
        assert (await stats(client))["plugin_endpoint"] == endpoint


async def test_overlapping_first_requests_share_one_client(on_env, endpoint, tokens):
    """Two requests for a plugin endpoint not used before, sent at once: both are
    answered by it (the second does not replace the client the first is using)."""
    async with session(on_env, caps("vscode")) as client:
        first = plugin_params("file:///w/o1.py", endpoint, token=tokens[1])
        second = plugin_params("file:///w/o2.py", endpoint, token=tokens[1], prefix=MUL_PREFIX)
        texts = await asyncio.gather(
            get(client, first, "o1"), get(client, second, "o2", MUL_PREFIX)
        )
        assert "a + b" in texts[0] and "a * b" in texts[1]
        assert not [m for m in messages(client) if "closed" in m]


async def test_off_by_default_and_a_repository_cannot_turn_it_on(clean_env, endpoint, tokens):
    """llm.url can come from a repository's .vscode/settings.json: without the user's
    own network.plugin_endpoints the configured engine answers, and the repository's
    workspace settings cannot turn it on."""
    before = completion_requests(endpoint, tokens[1])
    configuration = {"network": {"plugin_endpoints": True}}
    async with session(clean_env, caps("vscode"), configuration=configuration) as client:
        params = plugin_params("file:///w/off.py", endpoint, token=tokens[1])
        assert "a + b" in await get(client, params, "off")  # the local model
        message = await wait_for_message(client, "network.plugin_endpoints is off")
        assert endpoint in message and "user config file" in message
        await wait_for_message(client, "network.plugin_endpoints")  # workspace: refused
        assert any("workspace" in m and "plugin_endpoints" in m for m in messages(client))
        assert (await stats(client))["plugin_endpoint"] is None
    assert completion_requests(endpoint, tokens[1]) == before  # not one request
