"""Which endpoint a Hugging Face plugin's getCompletions names, and when it is used."""

from __future__ import annotations

import dataclasses

import pytest

from safecoder_lsp.config import load_config
from safecoder_lsp.llmls import parse_get_completions
from safecoder_lsp.plugin_backend import (
    KIND_BY_BACKEND,
    RESOLVE_RETRY_S,
    Refusal,
    base_url,
    egress_refusal,
    kind_for,
    plugin_config,
    policy_refusal,
    requested,
)

QWEN_FIM = {
    "enabled": True,
    "prefix": "<|fim_prefix|>",
    "middle": "<|fim_middle|>",
    "suffix": "<|fim_suffix|>",
}


def params(**extra) -> dict:
    return {
        "textDocument": {"uri": "file:///a.py"},
        "position": {"line": 0, "character": 0},
    } | extra


def config(**env: str):
    return load_config(user_file=None, env=env, policy=[]).config


@pytest.mark.parametrize(
    ("backend", "url", "kind", "base"),
    [
        # llm-ls appends the backend's path unless disableUrlPathCompletion; both forms
        ("tgi", "http://10.0.0.5:8080", "tgi", "http://10.0.0.5:8080"),
        ("tgi", "http://10.0.0.5:8080/generate", "tgi", "http://10.0.0.5:8080"),
        ("huggingface", "https://tgi.corp.internal/", "tgi", "https://tgi.corp.internal"),
        ("openai", "http://vllm:8000/v1/completions", "openai", "http://vllm:8000"),
        ("llamacpp", "http://127.0.0.1:8080/completion", "openai", "http://127.0.0.1:8080"),
        ("ollama", "http://127.0.0.1:11434/api/generate", "ollama", "http://127.0.0.1:11434"),
        ("TGI", "http://gw.local/team/a/generate_stream?x=1", "tgi", "http://gw.local/team/a"),
    ],
)
def test_a_url_with_a_backend_we_speak_is_a_request(backend, url, kind, base):
    plugin = requested(parse_get_completions(params(backend=backend, url=url, model="m")))
    assert plugin is not None
    assert (plugin.kind, plugin.url, plugin.model) == (kind, base, "m")


@pytest.mark.parametrize(
    "extra",
    [
        {"backend": "huggingface", "url": None},  # llm-vscode's default: Hugging Face's API
        {"backend": "tgi"},
        {"backend": "bedrock", "url": "http://10.0.0.5"},
        {"backend": "openai", "url": "10.0.0.5:8000"},  # no scheme
        {"backend": "openai", "url": "file:///etc/passwd"},
        {"url": "http://10.0.0.5:8000"},  # no backend
    ],
)
def test_no_usable_endpoint_is_no_request(extra):
    assert requested(parse_get_completions(params(**extra))) is None


def test_fim_markers_and_token_travel_but_the_token_is_never_shown():
    p = parse_get_completions(
        params(backend="tgi", url="http://10.0.0.5", fim=QWEN_FIM, apiToken="hf_secret")
    )
    plugin = requested(p)
    assert plugin is not None
    assert plugin.fim == ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    assert plugin.token == "hf_secret"
    assert "hf_secret" not in repr(plugin) and "hf_secret" not in repr(p)
    assert "hf_secret" not in repr(plugin.key)
    other = dataclasses.replace(plugin, token="another")
    assert other.key != plugin.key  # a new token is a new client
    no_fim = params(backend="tgi", url="http://10.0.0.5", fim={**QWEN_FIM, "enabled": False})
    off = requested(parse_get_completions(no_fim))
    assert off is not None and off.fim is None


def test_base_url_keeps_a_path_prefix_and_drops_credentials():
    assert base_url("https://gw/prefix/v1/completions") == "https://gw/prefix"
    assert base_url("http://h:1/") == "http://h:1"
    assert base_url("http://user:secret@10.0.0.5:8080/generate") == "http://10.0.0.5:8080"
    assert base_url("http://[fd00::5]:8080/v1/completions") == "http://[fd00::5]:8080"


def test_off_unless_the_user_turned_it_on():
    plugin = requested(parse_get_completions(params(backend="tgi", url="http://10.0.0.5")))
    assert plugin is not None
    why = policy_refusal(plugin, config(), {})
    assert why is not None and "network.plugin_endpoints is off" in why.message
    assert "SAFECODER_NETWORK_PLUGIN_ENDPOINTS=true" in why.message
    assert policy_refusal(plugin, config(SAFECODER_NETWORK_PLUGIN_ENDPOINTS="true"), {}) is None


def test_the_policy_pinning_the_engine_refuses():
    plugin = requested(parse_get_completions(params(backend="tgi", url="http://10.0.0.5")))
    assert plugin is not None
    cfg = config(SAFECODER_NETWORK_PLUGIN_ENDPOINTS="true")
    assert policy_refusal(plugin, cfg, {"network.allowed_hosts": "admin policy /p"}) is None
    why = policy_refusal(plugin, cfg, {"engine.url": "admin policy /etc/safecoder/policy.toml"})
    assert why is not None and why.retry_after_s is None  # holds until the config changes
    assert "engine.url is pinned by the admin policy /etc/safecoder/policy.toml" in why.message
    assert "engine.kind = llamacpp" in why.message


def test_the_egress_guard_decides_on_the_resolved_address():
    def refusal(url: str, **env: str) -> Refusal | None:
        plugin = requested(parse_get_completions(params(backend="openai", url=url)))
        assert plugin is not None
        return egress_refusal(plugin, config(**env))

    assert refusal("http://127.0.0.1:8000") is None
    assert refusal("http://10.1.2.3:8000") is None
    public = refusal("http://93.184.216.34:8000")
    assert public is not None and public.retry_after_s is None
    assert "93.184.216.34" in public.message and "network.allowed_hosts" in public.message
    allowed = {"SAFECODER_NETWORK_ALLOWED_HOSTS": "93.184.216.34"}
    assert refusal("http://93.184.216.34:8000", **allowed) is None
    unknown = refusal("http://no-such-host.invalid:8000")
    assert unknown is not None and "llm.url" in unknown.message
    assert unknown.retry_after_s == RESOLVE_RETRY_S  # DNS may come back: decided again


def test_the_plugins_engine_keeps_the_rest_of_the_configuration():
    cfg = config(
        SAFECODER_ENGINE_CA_BUNDLE="/etc/ssl/team.pem",
        SAFECODER_ENGINE_READ_TIMEOUT_MS="9000",
        SAFECODER_ENGINE_API_TOKEN_FILE="/home/u/.team-token",
        SAFECODER_ENGINE_CLIENT_CERT="/home/u/team.pem",
        SAFECODER_ENGINE_FALLBACK="local",
        SAFECODER_MODEL_FIM_TEMPLATE="starcoder",
    )
    p = params(backend="tgi", url="https://tgi.internal", model="sc2", fim=QWEN_FIM)
    plugin = requested(parse_get_completions(p))
    assert plugin is not None
    out = plugin_config(cfg, plugin)
    e = out.engine
    assert (e.kind, e.url, e.model) == ("tgi", "https://tgi.internal", "sc2")
    assert e.api_token_file == ""  # the team's token file is not sent to the plugin's host
    assert e.client_cert == "" and e.fallback == "none"  # the configured endpoint's
    assert (e.ca_bundle, e.read_timeout_ms) == ("/etc/ssl/team.pem", 9000)
    m = out.model
    assert (m.fim_template, m.fim_prefix, m.fim_suffix, m.fim_middle) == (
        "custom",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
    )
    assert out.completion == cfg.completion and out.attribution == cfg.attribution
    # Without markers from the plugin, the served model's name decides, not the
    # template configured for the configured model.
    bare = requested(parse_get_completions(params(backend="tgi", url="https://tgi.internal")))
    assert bare is not None and plugin_config(cfg, bare).model.fim_template == "auto"


def test_every_llm_ls_backend_maps_onto_a_registered_remote_kind(monkeypatch):
    from engine import kinds

    for backend, kind in KIND_BY_BACKEND.items():
        assert kinds.get(kind).remote, backend
        assert kind_for(backend) == kind == kind_for(f" {backend.upper()} ")
    assert kind_for("bedrock") is None
    # a mapping onto a kind that is not registered (renamed, removed) is not used
    monkeypatch.setattr(kinds, "KINDS", {k: v for k, v in kinds.KINDS.items() if k != "tgi"})
    assert kind_for("tgi") is None and kind_for("huggingface") is None
    assert requested(parse_get_completions(params(backend="tgi", url="http://10.0.0.5"))) is None
