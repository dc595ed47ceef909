"""Build the engine worker and the completion service from the configuration."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from attribution.policy import Policy
from engine import fim
from engine.base import Engine, EngineError
from engine.fallback import FallbackEngine
from engine.worker import EngineWorker
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.config import Config, config_keys

log = logging.getLogger(__name__)

# Keys whose change needs a new engine (a reload of the model or a new client).
ENGINE_KEYS = (
    "model.path",
    "model.fim_template",
    "network.allowed_hosts",
    *(spec.key for spec in config_keys() if spec.key.startswith("engine.")),
)


# An endpoint a Hugging Face plugin named: hints name the plugin's settings.
PLUGIN_SETTINGS = {
    "url_setting": "the plugin's url (llm.url)",
    "kind_setting": "the plugin's backend (llm.backend)",
    "token_hint": "The token is the plugin's own (its apiToken: llm-vscode's login command, "
    "llm.nvim's api_token): set one the endpoint accepts.",
}


def completion_settings(config: Config) -> CompletionSettings:
    c = config.completion
    return CompletionSettings(
        max_tokens=c.max_tokens,
        single_line_max_tokens=c.single_line_max_tokens,
        time_budget_ms=c.time_budget_ms,
        prefix_tokens=c.prefix_tokens,
        suffix_tokens=c.suffix_tokens,
        multiline=c.multiline,
        skip_in_comments=c.skip_in_comments,
        skip_in_strings=c.skip_in_strings,
        temperature=c.temperature,
        stop=tuple(c.stop),
        cache_size=c.cache_size,
        include_code_in_logs=config.log.include_code,
    )


def template_override(config: Config) -> fim.FimTemplate | None:
    """The configured FIM template, or None to detect it from the model."""
    m = config.model
    if m.fim_template == "auto":
        template = None
    elif m.fim_template == "custom":
        template = fim.custom(m.fim_prefix, m.fim_suffix, m.fim_middle)
    else:
        template = fim.by_name(m.fim_template)
    if template is not None and m.fim_stop:
        template = fim.with_stop(template, tuple(m.fim_stop))
    return template


def engine_factory(
    config: Config, notify: Callable[[str], None] | None = None, token: str | None = None
) -> Callable[[], Engine]:
    """What the engine worker calls (on its thread) to create the engine in force.

    ``notify`` receives messages for the user that are not errors of one request
    (the fallback to the local model took over, or gave back). ``token``: the API
    token for a remote engine instead of the configured one (a plugin's own).
    """
    if config.engine.kind == "llamacpp":
        return lambda: local_engine(config)
    if config.engine.fallback == "local":
        return lambda: FallbackEngine(
            remote_engine(config, token), lambda: local_engine(config), on_switch=notify
        )
    return lambda: remote_engine(config, token)


def local_engine(config: Config) -> Engine:
    from engine.llamacpp import LlamaCppEngine
    from engine.models import resolve_model_path

    e = config.engine
    path = resolve_model_path(config.model.path)
    engine = LlamaCppEngine(
        path,
        n_ctx=e.n_ctx,
        n_threads=e.n_threads,
        n_gpu_layers=e.n_gpu_layers,
        n_batch=e.n_batch,
    )
    extra = tuple(config.model.fim_stop)
    if engine.fim_template is not None and extra:
        engine.fim_template = fim.with_stop(engine.fim_template, extra)
    return engine


def remote_engine(config: Config, token: str | None = None) -> Engine:
    """The client of the endpoint at ``engine.url``; raises EngineError for settings
    that cannot work (no URL, a host the egress guard refuses, unreadable TLS files
    or token file). An endpoint that is down is not an error here: requests report it
    and succeed again once it is back. ``token``: sent instead of the configured one
    (engine.api_token_file / $SAFECODER_API_TOKEN are then not read)."""
    from engine.remote import egress, tokens
    from engine.remote.auth import token_source
    from engine.remote.breaker import CircuitBreaker
    from engine.remote.engine import RemoteEngine
    from engine.remote.http import Endpoint, tls_context

    e = config.engine
    url = e.url.strip()
    if not url:
        raise EngineError(
            f"engine.kind = {e.kind} needs engine.url, the address of the endpoint.",
            "Set engine.url (for example http://10.0.0.5:8088) in the user config file "
            "or SAFECODER_ENGINE_URL, or use engine.kind = llamacpp for the local model.",
        )
    try:
        allowed = egress.Allowed.parse(config.network.allowed_hosts)
    except ValueError as exc:
        raise EngineError(str(exc), "Correct network.allowed_hosts.") from None
    endpoint = Endpoint(
        url,
        token=token_source(e.api_token_file) if token is None else token,
        connect_timeout=e.connect_timeout_ms / 1000,
        read_timeout=e.read_timeout_ms / 1000,
        verify_tls=e.tls_verify,
        ca_bundle=os.path.expanduser(e.ca_bundle),
        client_cert=os.path.expanduser(e.client_cert),
        client_key=os.path.expanduser(e.client_key),
        allowed=allowed,
        **(PLUGIN_SETTINGS if token is not None else {}),
    )
    if url.startswith("https:"):
        tls_context(endpoint)  # unreadable CA bundle / client certificate: say so now
    _check_egress(endpoint)
    template = template_override(config) or fim.detect_by_name(e.model)
    count, tokenizer_name = tokens.counter(e.tokenizer)
    engine = RemoteEngine(
        _api(e.kind, template),
        endpoint,
        model=e.model,
        fim_template=template,
        count_tokens=count,
        tokenizer_name=tokenizer_name,
        streaming=e.streaming,
        retries=e.retries,
        breaker=CircuitBreaker(e.breaker_failures, e.breaker_cooldown_s),
    )
    if engine.fim_template is None:
        engine.discover()  # the served model's name picks the template
    return engine


def _api(kind: str, template: fim.FimTemplate | None):
    from engine.remote.infill import LlamaCppInfill
    from engine.remote.ollama import OllamaGenerate
    from engine.remote.openai import OpenAICompletions
    from engine.remote.tgi import TgiGenerate

    if kind == "openai":
        return OpenAICompletions()
    if kind == "tgi":
        return TgiGenerate()
    if kind == "llamacpp-infill":
        return LlamaCppInfill()
    if kind == "ollama":
        return OllamaGenerate(raw=template is not None)
    raise EngineError(f"engine.kind = {kind!r} is not a remote engine.")


def _check_egress(endpoint) -> None:
    """Refuse a host outside the network at start (it is checked again, with the
    addresses it resolves to then, on every connection)."""
    from urllib.parse import urlsplit

    from engine.remote import egress

    parts = urlsplit(endpoint.url)
    host = parts.hostname or ""
    try:
        resolved = egress.resolve(host, parts.port or 0)
    except EngineError as exc:
        log.warning("%s", exc)  # DNS may be down now; every request checks again
        return
    egress.check(host, [address for _, address in resolved], endpoint.allowed)


def build_service(
    config: Config, notify: Callable[[str], None] | None = None, token: str | None = None
) -> CompletionService:
    worker = EngineWorker(engine_factory(config, notify, token))
    return CompletionService(worker, completion_settings(config), template_override(config))


def attributor(config: Config) -> Attributor | None:
    """The attribution step for ``config`` (None when off or no index is set).

    Raises AttributionError (with a hint) when the index is set but unusable.
    """
    a = config.attribution
    if a.action == "off" or not a.index.strip():
        return None
    policy = Policy(tuple(a.allowed_licenses), a.action, a.unknown_license)  # type: ignore[arg-type]
    return Attributor.open(a.index.strip(), policy)


def engine_config_changed(old: Config, new: Config) -> bool:
    return any(old.get(k) != new.get(k) for k in ENGINE_KEYS)
