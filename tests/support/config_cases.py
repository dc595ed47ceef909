"""What the configuration tests share: the contract of keys, defaults and rules, and
small helpers (tests/unit/config/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safecoder_lsp.config import ConfigProblem, LoadResult, load_config

# The contract: every key with its type and default.
EXPECTED_DEFAULTS: dict[str, tuple[str, Any]] = {
    "model.path": ("str", ""),
    "model.lora_path": ("str", ""),
    "model.fim_template": ("str", "auto"),
    "model.fim_prefix": ("str", ""),
    "model.fim_suffix": ("str", ""),
    "model.fim_middle": ("str", ""),
    "model.fim_stop": ("list[str]", ()),
    "model.mirror_url": ("str", ""),
    "engine.kind": ("str", "llamacpp"),
    "engine.url": ("str", ""),
    "engine.model": ("str", ""),
    "engine.api_token_file": ("str", ""),
    "engine.ca_bundle": ("str", ""),
    "engine.client_cert": ("str", ""),
    "engine.client_key": ("str", ""),
    "engine.tls_verify": ("bool", True),
    "engine.connect_timeout_ms": ("int", 3000),
    "engine.read_timeout_ms": ("int", 30000),
    "engine.streaming": ("bool", True),
    "engine.retries": ("int", 2),
    "engine.breaker_failures": ("int", 3),
    "engine.breaker_cooldown_s": ("float", 10.0),
    "engine.fallback": ("str", "none"),
    "engine.tokenizer": ("str", ""),
    "engine.n_gpu_layers": ("int", 0),
    "engine.n_threads": ("int", 0),
    "engine.n_ctx": ("int", 4096),
    "engine.n_batch": ("int", 512),
    "completion.enabled": ("bool", True),
    "completion.max_tokens": ("int", 64),
    "completion.single_line_max_tokens": ("int", 48),
    "completion.time_budget_ms": ("int", 3000),
    "completion.prefix_tokens": ("int", 768),
    "completion.suffix_tokens": ("int", 192),
    "completion.multiline": ("str", "auto"),
    "completion.skip_in_comments": ("bool", False),
    "completion.skip_in_strings": ("bool", False),
    "completion.temperature": ("float", 0.0),
    "completion.stop": ("list[str]", ()),
    "completion.cache_size": ("int", 256),
    "completion.debounce_max_ms": ("int", 300),
    "completion.warm": ("bool", True),
    "completion.cold_prefix_fraction": ("float", 1.0),
    "completion.middle_lines": ("int", 8),
    "completion.lead_lines": ("int", 3),
    "context.enabled": ("bool", True),
    "context.budget_tokens": ("int", 512),
    "context.max_files": ("int", 500),
    "context.max_snippets": ("int", 8),
    "attribution.index": ("str", ""),
    "attribution.allowed_licenses": (
        "list[str]",
        (
            "MIT",
            "Apache-2.0",
            "BSD-2-Clause",
            "BSD-3-Clause",
            "ISC",
            "Unlicense",
            "CC0-1.0",
            "0BSD",
            "Zlib",
            "PSF-2.0",
            "Python-2.0",
        ),
    ),
    "attribution.action": ("str", "annotate"),
    "attribution.unknown_license": ("str", "deny"),
    "network.allowed_hosts": ("list[str]", ()),
    "network.plugin_endpoints": ("bool", False),
    "log.level": ("str", "info"),
    "log.include_code": ("bool", False),
    "log.file": ("str", ""),
}

NOT_FROM_WORKSPACE = {
    "engine.url": "http://attacker.example/v1",
    "engine.api_token_file": "/tmp/token",
    "engine.kind": "openai",
    "engine.model": "x",
    "engine.ca_bundle": "/tmp/ca.pem",
    "engine.client_cert": "/tmp/cert.pem",
    "engine.client_key": "/tmp/key.pem",
    "engine.tls_verify": False,
    "engine.connect_timeout_ms": 100000,
    "engine.read_timeout_ms": 100000,
    "engine.streaming": False,
    "engine.retries": 9,
    "engine.breaker_failures": 99,
    "engine.breaker_cooldown_s": 3000.0,
    "engine.fallback": "local",
    "engine.tokenizer": "/tmp/tokenizer.json",
    "engine.n_gpu_layers": -1,
    "engine.n_threads": 1,
    "engine.n_ctx": 131072,
    "engine.n_batch": 16,
    "network.allowed_hosts": ["0.0.0.0/0"],
    "network.plugin_endpoints": True,
    "model.mirror_url": "http://attacker.example/simple",
    "model.lora_path": "/tmp/attacker-adapter.gguf",
    "attribution.index": "/nonexistent/index.sqlite",
    "attribution.allowed_licenses": ["GPL-3.0-only"],
    "attribution.action": "off",
    "attribution.unknown_license": "allow",
    "log.include_code": True,
}

RANGES = {
    "engine.n_gpu_layers": (-1, None),
    "engine.n_threads": (0, None),
    "engine.n_ctx": (512, 131072),
    "engine.n_batch": (16, 8192),
    "engine.connect_timeout_ms": (100, 120000),
    "engine.read_timeout_ms": (100, 600000),
    "engine.retries": (0, 10),
    "engine.breaker_failures": (1, 100),
    "engine.breaker_cooldown_s": (0.1, 3600),
    "completion.max_tokens": (1, 2048),
    "completion.single_line_max_tokens": (1, 2048),
    "completion.time_budget_ms": (50, 60000),
    "completion.prefix_tokens": (16, 32768),
    "completion.suffix_tokens": (0, 32768),
    "completion.temperature": (0, 2),
    "completion.cache_size": (0, 100000),
    "completion.debounce_max_ms": (0, 2000),
    "completion.cold_prefix_fraction": (0.05, 1.0),
    "completion.middle_lines": (0, 64),
    "completion.lead_lines": (0, 64),
    "context.budget_tokens": (0, 16384),
    "context.max_files": (0, 20000),
    "context.max_snippets": (0, 64),
}

CHOICES = {
    "model.fim_template": (
        "auto",
        "qwen2.5-coder",
        "starcoder",
        "codellama",
        "deepseek-coder",
        "codestral",
        "codegemma",
        "custom",
    ),
    "engine.kind": ("llamacpp", "openai", "tgi", "llamacpp-infill", "ollama"),
    "engine.fallback": ("none", "local"),
    "completion.multiline": ("auto", "always", "never"),
    "attribution.action": ("annotate", "block", "off"),
    "attribution.unknown_license": ("allow", "deny"),
    "log.level": ("debug", "info", "warning", "error"),
}


def load(**kwargs: Any) -> LoadResult:
    """load_config isolated from the real machine: no user file, empty env by default."""
    kwargs.setdefault("user_file", None)
    kwargs.setdefault("env", {})
    return load_config(**kwargs)


def toml_file(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]
