"""Build the engine worker and the completion service from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from attribution.policy import Policy
from engine import fim
from engine.base import Engine, EngineError
from engine.worker import EngineWorker
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.config import Config

# Keys whose change needs a new engine (a reload of the model).
ENGINE_KEYS = (
    "model.path",
    "engine.kind",
    "engine.url",
    "engine.n_gpu_layers",
    "engine.n_threads",
    "engine.n_ctx",
    "engine.n_batch",
)


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


def engine_factory(config: Config) -> Callable[[], Engine]:
    e = config.engine
    if e.kind != "llamacpp":
        kind = e.kind

        def unavailable() -> Engine:
            raise EngineError(
                f"engine.kind = {kind!r} is not available in this version.",
                "Use engine.kind = llamacpp (the embedded engine).",
            )

        return unavailable

    def make() -> Engine:
        from engine.llamacpp import LlamaCppEngine
        from engine.modelstore import resolve_model_path

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

    return make


def build_service(config: Config) -> CompletionService:
    worker = EngineWorker(engine_factory(config))
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
