"""A GGUF LoRA adapter checked against the model it is to be applied to, before
llama.cpp sees it: llama.cpp loads an adapter made for another model of the same
architecture without complaint and then crashes the process (a segmentation fault
while reserving its compute graph, measured with llama-cpp-python 0.3.36), which
would take the language server down. Every adapted tensor must exist in the model
with the shapes the adapter's factors fit."""

from __future__ import annotations

from pathlib import Path

from engine.base import EngineError

FIX = ("model.lora_path must be a GGUF LoRA made for model.path's model "
       "(`safecoder-lsp train export RUN --as lora` writes one), or empty.")


def _text(reader, key: str) -> str:
    field = reader.fields.get(key)
    return bytes(field.parts[field.data[0]]).decode("utf-8", "replace") if field else ""


def check(adapter: Path, model: Path) -> None:
    """Raise an EngineError when the adapter file is missing, incomplete or not made
    for ``model`` (llama.cpp would crash on it)."""
    if not adapter.is_file():
        raise EngineError(f"model.lora_path {adapter} is not a file.", FIX)
    from engine import gguf

    gguf.read_metadata(adapter)
    gguf.check_complete(adapter)
    check_fits(adapter, model)


def check_fits(adapter: Path, model: Path) -> None:
    """Raise an EngineError unless ``adapter`` is a LoRA for ``model``'s tensors."""
    from gguf import GGUFReader

    try:
        lora, base = GGUFReader(adapter), GGUFReader(model)
    except (ValueError, OSError) as exc:
        raise EngineError(f"cannot read the LoRA adapter {adapter}: {exc}.", FIX) from exc
    if _text(lora, "adapter.type") != "lora":
        raise EngineError(f"{adapter.name} is not a GGUF LoRA adapter.", FIX)
    arch, want = _text(lora, "general.architecture"), _text(base, "general.architecture")
    if arch != want:
        raise EngineError(f"the LoRA adapter {adapter.name} is for {arch}, "
                          f"the model {model.name} is {want}.", FIX)
    shapes = {t.name: tuple(int(n) for n in t.shape) for t in base.tensors}
    factors = {t.name: tuple(int(n) for n in t.shape) for t in lora.tensors}
    for name, a in factors.items():
        if not name.endswith(".lora_a"):
            continue
        target = name[: -len(".lora_a")]
        b = factors.get(target + ".lora_b", ())
        have = shapes.get(target)
        if have is None or len(a) != 2 or len(b) != 2 or a[0] != have[0] or b[1] != have[1]:
            raise EngineError(
                f"the LoRA adapter {adapter.name} does not fit {model.name}: {target} is "
                f"{have or 'missing'} in the model, the adapter's factors {a} and {b}.", FIX)
