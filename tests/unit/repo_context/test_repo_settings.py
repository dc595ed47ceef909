"""The snippet budget is cut so that the whole prompt fits the context window."""

from __future__ import annotations

from safecoder_lsp.config import Config
from safecoder_lsp.repo_context.settings import MARGIN_TOKENS, clamp_budget
from safecoder_lsp.runtime import completion_settings, context_settings


def test_clamp_budget():
    assert clamp_budget(512, 4096, 768, 192, 64) == 512
    assert clamp_budget(512, 1024, 768, 192, 64) == 0
    assert clamp_budget(512, 1200, 768, 192, 64) == 1200 - 768 - 192 - 64 - MARGIN_TOKENS


def test_the_configuration_gives_the_clamped_budget_and_the_settings():
    default = completion_settings(Config())
    assert default.context_tokens == 512
    small = Config().with_values({"engine.n_ctx": 1200, "completion.max_tokens": 100})
    assert completion_settings(small).context_tokens == 1200 - 768 - 192 - 100 - MARGIN_TOKENS
    off = Config().with_values({"context.enabled": False})
    assert completion_settings(off).context_tokens == 0
    s = context_settings(Config().with_values({"context.max_files": 7, "context.max_snippets": 3}))
    assert (s.enabled, s.budget_tokens, s.max_files, s.max_snippets) == (True, 512, 7, 3)
