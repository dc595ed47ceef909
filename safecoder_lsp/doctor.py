"""``safecoder-lsp doctor``: the configuration in force, the model, the engine, the index.

Each check prints one line, ``ok`` / ``warn`` / ``FAIL``, and what to do about a
failure. The exit code is 1 when any check failed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from engine import kinds
from engine.base import EngineError, FimParts, GenerationRequest, generate_text


class Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = False

    def line(self, status: str, what: str, detail: str = "", fix: str = "") -> None:
        if status == "FAIL":
            self.failed = True
        self.out.write(f"[{status:>4}] {what}" + (f": {detail}" if detail else "") + "\n")
        if fix:
            self.out.write(f"       fix: {fix}\n")


def run_doctor(out: TextIO | None = None, load_engine: bool = True) -> int:
    from safecoder_lsp import __version__
    from safecoder_lsp.config import load_config

    out = out or sys.stdout
    r = Report(out)
    r.line("ok", "safecoder-lsp", __version__)
    result = load_config()
    cfg = result.config
    for problem in result.problems:
        r.line("warn", "config", str(problem))
    if not result.problems:
        r.line("ok", "config", "no problems")
    out.write("  configuration in force:\n")
    for key, value in cfg.as_flat_dict().items():
        out.write(f"    {key} = {value!r}\n")

    for key, source in result.pinned.items():
        r.line("ok", "admin policy", f"{key} pinned by {source.removeprefix('admin policy ')}")
    remote = kinds.get(cfg.engine.kind).remote
    needs_model = not remote or cfg.engine.fallback == "local"
    path = _check_model(r, cfg.model.path, required=needs_model)
    _check_llama(r, cfg, needs_model)
    if load_engine and (path is not None or not needs_model):
        _check_engine(r, cfg)
    index = cfg.attribution.index
    if not index:
        r.line("warn", "attribution index", "not configured (attribution.index is empty)")
    elif Path(index).expanduser().exists():
        r.line("ok", "attribution index", index)
    else:
        r.line(
            "FAIL",
            "attribution index",
            f"{index} does not exist",
            "build it with `safecoder-lsp attribution build SOURCE --index PATH`",
        )
    return 1 if r.failed else 0


def _check_model(r: Report, configured: str, required: bool = True) -> Path | None:
    from engine.models import resolve_model_path, verify

    try:
        path = resolve_model_path(configured)
    except EngineError as exc:
        if required:
            r.line("FAIL", "model", exc.message, exc.hint)
        else:
            r.line("ok", "model", "no local model (not needed: a remote engine answers)")
        return None
    result = verify(path)
    if result.ok:
        r.line("ok", "model", f"{path} ({result.size:,} bytes, sha256 {result.sha256[:16]}…)")
        return path
    r.line("FAIL", "model", result.message, "run `safecoder-lsp model pull` or fix model.path")
    return None


def _check_llama(r: Report, cfg, local: bool) -> None:
    try:
        import llama_cpp
    except ImportError as exc:
        r.line("FAIL", "llama-cpp-python", str(exc), "pip install llama-cpp-python")
        return
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    r.line(
        "ok", "llama-cpp-python", f"{llama_cpp.__version__}, GPU offload: {'yes' if gpu else 'no'}"
    )
    if gpu and local and cfg.engine.n_gpu_layers == 0:
        r.line(
            "warn",
            "GPU",
            "this build can offload to a GPU; engine.n_gpu_layers = 0 keeps the model on the CPU",
            "set engine.n_gpu_layers = -1 (all layers), e.g. SAFECODER_ENGINE_N_GPU_LAYERS=-1",
        )


def _check_engine(r: Report, cfg) -> None:
    from safecoder_lsp.runtime import engine_factory, template_override

    started = time.monotonic()
    try:
        engine = engine_factory(cfg)()
    except EngineError as exc:
        r.line("FAIL", "engine", exc.message, exc.hint)
        return
    try:
        load_s = time.monotonic() - started
        info = engine.info()
        details = ", ".join(f"{k} {v}" for k, v in info.details.items() if k != "load_s")
        r.line("ok", "engine", f"{info.kind}: {info.model} ({details}), ready in {load_s:.2f} s")
        template = template_override(cfg) or engine.fim_template
        if template is None:
            problem = getattr(engine, "template_problem", None)
            if problem is not None:
                r.line("FAIL", "endpoint", problem.message, problem.hint)
                return
            r.line("FAIL", "FIM template", "not detected", "set model.fim_template")
            return
        r.line("ok", "FIM template", template.name)
        prompt = template.build("def add(a, b):\n", "\n", "    return ")
        request = GenerationRequest(
            prompt,
            max_tokens=8,
            stop=("\n",),
            heal=True,
            fim=FimParts("def add(a, b):\n", "\n", "    return "),
        )
        t0 = time.monotonic()
        try:
            text = generate_text(engine, request)
        except EngineError as exc:
            r.line("FAIL", "generation", exc.message, exc.hint)
            return
        ms = (time.monotonic() - t0) * 1000
        status = "ok" if "a + b" in text else "warn"
        r.line(
            status,
            "generation",
            f"{text.strip()!r} in {ms:.0f} ms ({engine.last_stats.generated_tokens} tokens)",
        )
    finally:
        engine.close()
