"""Build the completion service and the attribution step from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from attribution.policy import Policy
from engine.worker import EngineWorker
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.config import Config, config_keys
from safecoder_lsp.repo_context.settings import ContextSettings, clamp_budget
from safecoder_lsp.runtime.engines import engine_factory, template_override

# Keys whose change needs a new engine (a reload of the model or a new client).
ENGINE_KEYS = (
    "model.path",
    "model.fim_template",
    "network.allowed_hosts",
    *(spec.key for spec in config_keys() if spec.key.startswith("engine.")),
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
        debounce_max_ms=c.debounce_max_ms,
        warm=c.warm,
        cold_prefix_fraction=c.cold_prefix_fraction,
        middle_lines=c.middle_lines,
        lead_lines=c.lead_lines,
        include_code_in_logs=config.log.include_code,
        context_tokens=context_budget(config),
    )


def context_settings(config: Config) -> ContextSettings:
    c = config.context
    return ContextSettings(c.enabled, c.budget_tokens, c.max_files, c.max_snippets)


def context_budget(config: Config) -> int:
    """context.budget_tokens cut so that the whole prompt fits engine.n_ctx (0: off)."""
    c, x = config.completion, config.context
    if not x.enabled:
        return 0
    generated = max(c.max_tokens, c.single_line_max_tokens)
    return clamp_budget(
        x.budget_tokens, config.engine.n_ctx, c.prefix_tokens, c.suffix_tokens, generated
    )


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
