"""CompletionService reconfigured through its public methods (the server applies a
new configuration without a new engine)."""

from __future__ import annotations

import pytest

from engine.fim import FimTemplate
from engine.worker import EngineWorker
from safecoder_lsp.completion.service import CompletionError, CompletionService, CompletionSettings

TEMPLATE = FimTemplate(name="toy", prefix="<p>", suffix="<s>", middle="<m>")


def service(template: FimTemplate | None = None) -> CompletionService:
    worker = EngineWorker(lambda: None)  # type: ignore[arg-type,return-value]  # never started
    return CompletionService(worker, CompletionSettings(cache_size=4), template)


def test_the_template_override_is_set_and_cleared():
    s = service(TEMPLATE)
    assert s.template is TEMPLATE
    s.set_template_override(None)  # back to the engine's (none here: not loaded)
    with pytest.raises(CompletionError, match="fill-in-the-middle format"):
        _ = s.template
    s.set_template_override(TEMPLATE)
    assert s.template is TEMPLATE


def test_new_settings_resize_the_cache():
    s = service()
    s.cache.put("a", "x")
    new = CompletionSettings(cache_size=16, max_tokens=8)
    s.update_settings(new)
    assert s.settings is new and s.cache.capacity == 16
    assert s.cache.get("a") == "x"  # entries are kept
