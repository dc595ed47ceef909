"""Our team endpoint (``safecoder-lsp endpoint serve``) used by the language server
the way a team uses it: over HTTPS with a CA of its own, with API tokens, under a rate
limit, and with mutual TLS. What the user sees is checked in the editor: suggestions,
or a message that says what is wrong."""

from __future__ import annotations

import asyncio

import pytest
from endpoints import add_token, team_endpoint
from lsp_session import ADD_PREFIX, ADD_SUFFIX, caps, end_of, inline, open_doc, session
from lsp_session import wait_for_message as wait_message
from support.pki import Pki

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tokens(tmp_path_factory, clean_env):
    path = tmp_path_factory.mktemp("tokens") / "tokens.json"
    token = add_token("alice", path, clean_env)
    token_file = path.parent / "alice.token"
    token_file.write_text(token + "\n")
    return path, token_file


def server_env(clean_env: dict[str, str]) -> dict[str, str]:
    return {**clean_env, "SAFECODER_ENGINE_N_THREADS": "1", "SAFECODER_ENGINE_N_CTX": "2048"}


@pytest.fixture(scope="module")
def https_endpoint(clean_env, pki, tokens):
    args = ["--tokens", str(tokens[0]), "--slots", "2"]
    args += ["--tls-cert", pki.path("server.crt"), "--tls-key", pki.path("server.key")]
    args += ["--rate-limit", "30", "--rate-burst", "2"]
    context = pki.client_context(with_cert=False)
    with team_endpoint(args, server_env(clean_env), context) as url:
        yield url


def client_env(clean_env, url: str, pki: Pki, token_file=None, **extra: str) -> dict[str, str]:
    env = dict(clean_env)
    env.update(
        SAFECODER_ENGINE_KIND="openai",
        SAFECODER_ENGINE_URL=url,
        SAFECODER_ENGINE_CA_BUNDLE=str(pki.ca),
        SAFECODER_ENGINE_RETRIES="0",
        SAFECODER_COMPLETION_TIME_BUDGET_MS="20000",
    )
    if token_file is not None:
        env["SAFECODER_ENGINE_API_TOKEN_FILE"] = str(token_file)
    env.update(extra)
    return env


async def complete_add(client, name: str, variant: int = 0) -> list:
    """``variant`` changes the function's name: a prompt the cache has not seen."""
    uri = f"file:///w/{name}.py"
    prefix = ADD_PREFIX.replace("add(", f"add{variant}(") if variant else ADD_PREFIX
    open_doc(client, uri, prefix + ADD_SUFFIX)
    line, ch = end_of(prefix)
    return await inline(client, uri, line, ch)


def is_add(items: list) -> bool:
    return bool(items) and "+" in items[0].insert_text and "a" in items[0].insert_text


async def test_https_with_a_token_gives_suggestions(clean_env, https_endpoint, pki, tokens):
    env = client_env(clean_env, https_endpoint, pki, tokens[1])
    async with session(env, caps("vscode")) as client:
        assert is_add(await complete_add(client, "ok"))


async def test_a_missing_token_is_a_clear_message(clean_env, https_endpoint, pki):
    async with session(client_env(clean_env, https_endpoint, pki), caps("vscode")) as client:
        assert await complete_add(client, "none") == []
        message = await wait_message(client, "refused the token")
        assert "HTTP 401" in message and "engine.api_token_file" in message


async def test_a_wrong_token_is_a_clear_message_and_fixing_the_file_is_enough(
    clean_env, https_endpoint, pki, tokens, tmp_path
):
    token_file = tmp_path / "wrong.token"
    token_file.write_text("sc-not-a-real-token\n")
    env = client_env(clean_env, https_endpoint, pki, token_file)
    async with session(env, caps("vscode")) as client:
        assert await complete_add(client, "wrong") == []
        await wait_message(client, "refused the token")
        token_file.write_text(tokens[1].read_text())  # read again when it changes
        assert is_add(await complete_add(client, "fixed"))


async def test_the_ca_is_needed_to_trust_the_endpoint(clean_env, https_endpoint, pki, tokens):
    env = client_env(clean_env, https_endpoint, pki, tokens[1], SAFECODER_ENGINE_CA_BUNDLE="")
    async with session(env, caps("vscode")) as client:
        assert await complete_add(client, "noca") == []
        message = await wait_message(client, "TLS with")
        assert "CERTIFICATE_VERIFY_FAILED" in message and "engine.ca_bundle" in message


async def test_rate_limit_then_recovery(clean_env, https_endpoint, pki, tokens):
    env = client_env(clean_env, https_endpoint, pki, tokens[1])
    async with session(env, caps("vscode")) as client:
        results = [await complete_add(client, f"burst{i}", i) for i in range(4)]
        assert is_add(results[0])
        assert [] in results[1:], "a burst beyond the limit must be refused"
        message = await wait_message(client, "rate limiting")
        assert "HTTP 429" in message
        await asyncio.sleep(2.5)  # 30 per minute: one every 2 s
        assert is_add(await complete_add(client, "after", 9))


async def test_mutual_tls(clean_env, pki, tokens):
    args = ["--tokens", str(tokens[0]), "--tls-client-ca", str(pki.ca)]
    args += ["--tls-cert", pki.path("server.crt"), "--tls-key", pki.path("server.key")]
    context = pki.client_context(with_cert=True)
    with team_endpoint(args, server_env(clean_env), context) as url:
        with_cert = client_env(
            clean_env,
            url,
            pki,
            tokens[1],
            SAFECODER_ENGINE_CLIENT_CERT=pki.path("client.crt"),
            SAFECODER_ENGINE_CLIENT_KEY=pki.path("client.key"),
        )
        async with session(with_cert, caps("vscode")) as client:
            assert is_add(await complete_add(client, "mtls"))
        without = client_env(clean_env, url, pki, tokens[1])
        async with session(without, caps("vscode")) as client:
            assert await complete_add(client, "nocert") == []
            await wait_message(client, "TLS with")
