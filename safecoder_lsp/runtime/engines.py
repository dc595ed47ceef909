"""Build the engine in force from the configuration, by its kind in engine/kinds.py."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from engine import fim, kinds
from engine.base import Engine, EngineError
from engine.fallback import FallbackEngine
from safecoder_lsp.config import Config

log = logging.getLogger(__name__)

# An endpoint a Hugging Face plugin named: hints name the plugin's settings.
PLUGIN_SETTINGS = {
    "url_setting": "the plugin's url (llm.url)",
    "kind_setting": "the plugin's backend (llm.backend)",
    "token_hint": "The token is the plugin's own (its apiToken: llm-vscode's login command, "
    "llm.nvim's api_token): set one the endpoint accepts.",
}


def template_override(config: Config) -> fim.FimTemplate | None:
    """The configured FIM template, or None to detect it from the model."""
    m = config.model
    if m.fim_template == fim.AUTO:
        template = None
    elif m.fim_template == fim.CUSTOM:
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
    kind = kinds.KINDS.get(config.engine.kind)
    if kind is not None and not kind.remote:
        return lambda: local_engine(config)
    if config.engine.fallback == "local":
        return lambda: FallbackEngine(
            remote_engine(config, token), lambda: local_engine(config), on_switch=notify
        )
    return lambda: remote_engine(config, token)


def local_engine(config: Config) -> Engine:
    """The engine on this machine: engine.kind's when it is a local kind, else (the
    fallback of a remote kind) the embedded one."""
    from engine.models import resolve_model_path

    kind = kinds.KINDS.get(config.engine.kind)
    if kind is None or kind.remote:
        kind = kinds.get(kinds.LOCAL)
    e = config.engine
    path = resolve_model_path(config.model.path)
    lora = {"lora_path": config.model.lora_path} if config.model.lora_path else {}
    engine = kind.load()(
        path,
        n_ctx=e.n_ctx,
        n_threads=e.n_threads,
        n_gpu_layers=e.n_gpu_layers,
        n_batch=e.n_batch,
        **lora,
    )
    extra = tuple(config.model.fim_stop)
    detected = getattr(engine, "fim_template", None)  # None: the kind detects none
    if detected is not None and extra:
        engine.fim_template = fim.with_stop(detected, extra)
    return engine


def remote_engine(config: Config, token: str | None = None) -> Engine:
    """The client of the endpoint at ``engine.url``; raises EngineError for settings
    that cannot work (no URL, a host the egress guard refuses, unreadable TLS files
    or token file). An endpoint that is down is not an error here: requests report it
    and succeed again once it is back. ``token``: sent instead of the configured one
    (engine.api_token_file / $SAFECODER_API_TOKEN are then not read)."""
    from engine.remote import tokens
    from engine.remote.breaker import CircuitBreaker
    from engine.remote.engine import RemoteEngine

    e = config.engine
    kind = kinds.KINDS.get(e.kind)
    if kind is None or not kind.remote:
        raise EngineError(f"engine.kind = {e.kind!r} is not a remote engine.")
    endpoint = _endpoint(config, token)
    template = template_override(config) or fim.detect_by_name(e.model)
    count, tokenizer_name = tokens.counter(e.tokenizer)
    engine = RemoteEngine(
        kind.load()(template),
        endpoint,
        kind=kind.name,
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


def _endpoint(config: Config, token: str | None):
    """The endpoint at ``engine.url`` with the configured TLS, timeouts and token,
    checked against the egress guard."""
    from engine.remote import egress
    from engine.remote.auth import token_source
    from engine.remote.http import Endpoint, tls_context

    e = config.engine
    url = e.url.strip()
    if not url:
        raise EngineError(
            f"engine.kind = {e.kind} needs engine.url, the address of the endpoint.",
            "Set engine.url (for example http://10.0.0.5:8088) in the user config file "
            f"or SAFECODER_ENGINE_URL, or use engine.kind = {kinds.LOCAL} for the local model.",
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
    return endpoint


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
