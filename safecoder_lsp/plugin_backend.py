"""The endpoint a Hugging Face plugin names in ``llm-ls/getCompletions``.

llm-vscode, llm.nvim and llm-intellij send their own ``backend``, ``url``, ``model``,
``apiToken`` and FIM tokens with every request (llm-ls itself calls that endpoint). A
team that already pointed its plugins at an endpoint inside its network keeps that
set-up with us: the request is honoured when

- the user turned it on: ``network.plugin_endpoints = true`` (user file, environment or
  admin policy; never workspace settings: the plugin's url may come from a
  repository's own editor settings, which must not choose where code goes), and
- it names an endpoint: a ``url`` with a backend we speak (tgi, openai, ollama,
  llamacpp; ``huggingface`` with a URL of its own is a TGI-style endpoint), and
- the admin policy does not pin the engine (``engine.kind`` / ``engine.url``), and
- the egress guard lets the host through (private addresses, or ``network.allowed_hosts``).

Otherwise the configured engine answers and the user is told once why. Everything
else of the configuration (the CA bundle, timeouts, retries, completion settings,
attribution) applies to the plugin's endpoint as to the configured one; not the
configured token, client certificate or local fallback, which belong to the configured
endpoint. The plugin's ``apiToken`` is sent to its endpoint only. Its ``requestBody``,
``contextWindow`` and ``tokenizerConfig`` are not used: our own settings size prompts
and answers.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from engine import kinds
from engine.base import EngineError
from safecoder_lsp.config import Config
from safecoder_lsp.llmls import GetCompletionsParams

# llm-ls backend -> our engine.kind (a remote kind of engine/kinds.py; kind_for checks
# it). llm-ls's llamacpp backend posts to llama.cpp's native /completion; the same
# server answers OpenAI's /v1/completions, which we speak.
KIND_BY_BACKEND = {
    "tgi": "tgi",
    "huggingface": "tgi",
    "openai": "openai",
    "ollama": "ollama",
    "llamacpp": "openai",
}
# Paths llm-ls appends to ``url`` (or that a plugin puts there itself when it sets
# disableUrlPathCompletion): our clients add their own, so they are taken off.
_API_PATHS = (
    "/generate_stream",
    "/generate",
    "/v1/completions",
    "/v1/chat/completions",
    "/completions",
    "/completion",
    "/api/generate",
    "/infill",
)
PINNING_KEYS = ("engine.kind", "engine.url")
# A host that did not resolve is tried again after this long (DNS may come back).
RESOLVE_RETRY_S = 60.0


@dataclass(frozen=True)
class Refusal:
    message: str
    retry_after_s: float | None = None  # None: holds until the configuration changes


@dataclass(frozen=True)
class PluginBackend:
    backend: str
    kind: str
    url: str
    model: str
    fim: tuple[str, str, str] | None  # prefix, suffix, middle markers
    token: str = field(default="", repr=False)

    @property
    def key(self) -> tuple:
        """Identity of the engine this needs (the token only as a digest)."""
        digest = hashlib.sha256(self.token.encode()).hexdigest() if self.token else ""
        return (self.kind, self.url, self.model, self.fim, digest)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def kind_for(backend: str) -> str | None:
    """The registered remote engine kind that speaks to an llm-ls ``backend``; None
    for a backend we do not speak."""
    kind = kinds.KINDS.get(KIND_BY_BACKEND.get(backend.strip().lower(), ""))
    return kind.name if kind is not None and kind.remote else None


def base_url(url: str) -> str:
    """``url`` without credentials, a trailing API path, query or fragment."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    for suffix in sorted(_API_PATHS, key=len, reverse=True):  # /api/generate first
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    host = parts.netloc.rsplit("@", 1)[-1]  # user:password@ is never shown or sent
    return f"{parts.scheme}://{host}{path}"


def requested(p: GetCompletionsParams) -> PluginBackend | None:
    """The endpoint the plugin asks for; None when it names none we could use (no
    URL, or a backend we do not speak)."""
    backend = p.backend.strip().lower()
    kind = kind_for(backend)
    url = p.url.strip()
    if kind is None or not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    fim = None
    if p.fim.get("enabled"):
        markers = (p.fim.get("prefix"), p.fim.get("suffix"), p.fim.get("middle"))
        if all(isinstance(m, str) and m for m in markers):
            fim = (str(markers[0]), str(markers[1]), str(markers[2]))
    return PluginBackend(backend, kind, base_url(url), p.model.strip(), fim, p.api_token)


def _not_used(
    plugin: PluginBackend, config: Config, why: str, retry_after_s: float | None = None
) -> Refusal:
    return Refusal(
        f"the plugin's endpoint {plugin.url} ({plugin.backend}) is not used: {why} "
        f"Completions come from the configured engine (engine.kind = {config.engine.kind}).",
        retry_after_s,
    )


def policy_refusal(plugin: PluginBackend, config: Config, pinned: dict[str, str]) -> Refusal | None:
    """Why the configuration does not let the plugin choose the endpoint (None: it
    does): not turned on, or the admin policy pins the engine."""
    if not config.network.plugin_endpoints:
        return _not_used(
            plugin,
            config,
            "network.plugin_endpoints is off. To use it, set network.plugin_endpoints = "
            "true in your user config file (or SAFECODER_NETWORK_PLUGIN_ENDPOINTS=true).",
        )
    for key in PINNING_KEYS:
        if key in pinned:
            return _not_used(plugin, config, f"{key} is pinned by the {pinned[key]}.")
    return None


def egress_refusal(plugin: PluginBackend, config: Config) -> Refusal | None:
    """Why the egress guard refuses the plugin's host (None: it may be called).
    Resolves the host: call it off the event loop."""
    from engine.remote import egress

    try:
        allowed = egress.Allowed.parse(config.network.allowed_hosts)
    except ValueError as exc:
        return _not_used(plugin, config, f"{exc}.")
    try:
        resolved = egress.resolve(plugin.host, plugin.port)
    except EngineError as exc:
        why = f"{exc.message} Check the plugin's url (llm.url)."
        return _not_used(plugin, config, why, RESOLVE_RETRY_S)
    try:
        egress.check(plugin.host, [address for _, address in resolved], allowed)
    except EngineError as exc:
        return _not_used(plugin, config, str(exc))
    return None


def plugin_config(config: Config, plugin: PluginBackend) -> Config:
    """``config`` with the engine the plugin names (everything else as configured:
    TLS, timeouts, retries, fallback)."""
    engine = dataclasses.replace(
        config.engine,
        kind=plugin.kind,
        url=plugin.url,
        model=plugin.model,
        api_token_file="",  # the plugin's token goes to its endpoint, not the file's
        client_cert="",  # the configured endpoint's identity
        client_key="",
        fallback="none",  # no second local model per plugin endpoint
    )
    # The configured template is for the configured model: without the plugin's
    # markers the served model's name picks one.
    model = dataclasses.replace(config.model, fim_template="auto")
    if plugin.fim is not None:
        prefix, suffix, middle = plugin.fim
        model = dataclasses.replace(
            model, fim_template="custom", fim_prefix=prefix, fim_suffix=suffix, fim_middle=middle
        )
    return dataclasses.replace(config, engine=engine, model=model)
