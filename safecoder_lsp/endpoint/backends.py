"""Which Backend serves the endpoint, built from the configuration: the batched engine
for several slots (on the original weights or a 16-bit copy, ``--weights``), else
SerialBackend over the local engine (one request at a time).

What it decides is reported on stderr as the endpoint starts (``weights: ...``,
``warning: ...``). llama.cpp and numpy are imported only when a backend is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engine.base import EngineError, EngineInfo
from engine.kinds import LOCAL
from safecoder_lsp.config import Config
from safecoder_lsp.endpoint.backend import Backend


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def make_backend(
    config: Config, slots: int, step_tokens: int = 0, weights: str = "original"
) -> Backend:
    """The batched engine for ``slots`` > 1, else SerialBackend (one at a time).

    Raises EngineError (with a hint) when the model cannot be loaded.
    """
    from safecoder_lsp.endpoint.serial import SerialBackend
    from safecoder_lsp.runtime import engine_factory, template_override

    backend: Backend
    if slots > 1:
        backend = _batched(config, slots, step_tokens, weights)
    else:
        if weights == "16bit":
            _say(
                "warning: --weights 16bit is for batched decoding; --slots 1 keeps the "
                "original weights."
            )
        backend = SerialBackend(engine_factory(config.with_values({"engine.kind": LOCAL})))
    override = template_override(config)
    if override is not None:
        backend.fim_template = override
    return backend


def _batched(config: Config, slots: int, step_tokens: int, weights: str) -> Backend:
    from engine.batched import BatchedEngine
    from engine.models import resolve_model_path

    e = config.engine
    path, label = weights_for(resolve_model_path(config.model.path), weights, config, slots)
    return BatchedEngine(
        path,
        slots=slots,
        n_ctx=e.n_ctx,
        n_threads=e.n_threads,
        n_batch=e.n_batch,
        n_gpu_layers=e.n_gpu_layers,
        step_tokens=step_tokens,
        weights=label,
        lora_path=config.model.lora_path or None,
    )


def weights_for(
    model: Path, requested: str, config: Config, slots: int, system_info: str | None = None
) -> tuple[Path, str]:
    """The file the batched engine loads for ``--weights requested`` and how to name it.
    auto falls back to the original file (with a warning) when the 16-bit copy cannot
    be made; an explicit 16bit raises the EngineError. ``system_info``: llama.cpp's
    description of this build and CPU (asked when not given)."""
    from engine import relayout
    from engine.gguf import read_metadata
    from engine.models import model_dir

    if system_info is None:
        import llama_cpp  # loaded already (safecoder_lsp.native) by a model-loading command

        system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    meta = read_metadata(model)
    layout, why = relayout.choose(
        requested,
        n_gpu_layers=config.engine.n_gpu_layers,
        slots=slots,
        system_info=system_info,
        meta=meta,
    )
    if layout == relayout.ORIGINAL:
        _say(f"weights: original ({why})")
        return model, relayout.ORIGINAL
    if requested == relayout.AUTO:
        _say(f"weights: 16-bit matrices ({why}); --weights original keeps the file's")
    try:
        derived = relayout.ensure_derived(model, model_dir(), meta)
    except EngineError as exc:
        if requested != relayout.AUTO:
            raise
        _say(f"warning: {exc.message} Serving the original weights.")
        return model, relayout.ORIGINAL
    made = (
        f"made in {derived.made_s:.1f} s and kept for later starts"
        if derived.made_s is not None
        else "made at an earlier start"
    )
    _say(
        f"weights: {derived.converted} matrices as 16-bit floats from {model.name}: "
        f"{derived.path} ({made})"
    )
    return derived.path, f"{relayout.SIXTEEN_BIT} (from {model})"


def unused_gpu(info: EngineInfo, config: Config) -> str | None:
    """A warning when the build could offload to a GPU but the model stays on the CPU
    (a team endpoint on a GPU machine without engine.n_gpu_layers set)."""
    if info.details.get("gpu_offload") != "True" or config.engine.n_gpu_layers != 0:
        return None
    return (
        "this llama-cpp-python build can offload to a GPU, but engine.n_gpu_layers = 0 "
        "keeps the model on the CPU; set SAFECODER_ENGINE_N_GPU_LAYERS=-1 (all layers)."
    )


def model_file(config: Config) -> str:
    """The configured model's file name (the endpoint's model id); "" when unknown."""
    try:
        from engine.models import resolve_model_path

        return Path(resolve_model_path(config.model.path)).name
    except (EngineError, OSError):
        return ""
