"""engine.relayout: the 16-bit copy of a model for batched decoding on a CPU.

Block decoding is checked on blocks built here from ggml's format; the copy of the
real default model is checked by llama.cpp itself: it loads the copy, and its
logits and greedy answers match the original's."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from engine import relayout
from engine.gguf import GgufError, GgufMetadata, TensorInfo, check_complete, read_metadata


# -- rounding and block decoding ------------------------------------------------------
def _q8_0_block(d: float, q: list[int]) -> bytes:
    return struct.pack("<e32b", d, *q)


def _q5_0_block(d: float, q: list[int]) -> bytes:
    """q: 32 values 0..31, element j's low nibble in byte j (j < 16) or in byte j - 16's
    high nibble, its fifth bit in bit j of the 32-bit word."""
    high = sum(((v >> 4) & 1) << j for j, v in enumerate(q))
    low = bytes((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4) for j in range(16))
    return struct.pack("<eI", d, high) + low


def test_q8_0_blocks_decode_to_scale_times_value():
    a = [(-128 + 9 * i) % 256 - 128 for i in range(32)]
    b = list(range(-16, 16))
    raw = np.frombuffer(_q8_0_block(0.5, a) + _q8_0_block(-0.125, b), dtype=np.uint8)
    expected = [0.5 * v for v in a] + [-0.125 * v for v in b]
    assert relayout.dequantize(raw, relayout.Q8_0).tolist() == expected


def test_q5_0_blocks_decode_every_bit_position():
    a = list(range(32))  # every value once, so every nibble and high bit is used
    b = [(7 * i + 3) % 32 for i in range(32)]
    raw = np.frombuffer(_q5_0_block(0.25, a) + _q5_0_block(2.0, b), dtype=np.uint8)
    expected = [0.25 * (v - 16) for v in a] + [2.0 * (v - 16) for v in b]
    assert relayout.dequantize(raw, relayout.Q5_0).tolist() == expected


# -- what is converted, and when ----------------------------------------------------
def _meta(*tensors: tuple[str, tuple[int, ...], int]) -> GgufMetadata:
    return GgufMetadata(
        path=Path("m.gguf"),
        version=3,
        tensor_count=len(tensors),
        kv_count=0,
        metadata={},
        tokens=None,
        file_size=0,
        tensors=[TensorInfo(n, s, t, 0, 0) for n, s, t in tensors],
    )


Q4_K, Q6_K, F32 = 12, 14, 0


def test_plan_converts_q5_0_and_q8_0_matrices_but_not_the_embedding_lookup():
    meta = _meta(
        ("token_embd.weight", (896, 1000), relayout.Q5_0),
        ("blk.0.attn_q.weight", (896, 896), relayout.Q5_0),
        ("blk.0.attn_v.weight", (896, 128), relayout.Q8_0),
        ("blk.0.ffn_down.weight", (4864, 896), Q4_K),
        ("blk.1.ffn_down.weight", (4864, 896), Q6_K),
        ("blk.0.attn_q.bias", (896,), F32),
        ("output.weight", (896, 1000), relayout.Q8_0),
    )
    assert relayout.plan(meta) == {
        "blk.0.attn_q.weight": relayout.F16,
        "blk.0.attn_v.weight": relayout.F16,
        "output.weight": relayout.F16,
    }


def test_plan_converts_a_tied_embedding_it_multiplies_by():
    meta = _meta(
        ("token_embd.weight", (896, 1000), relayout.Q8_0),
        ("blk.0.attn_q.weight", (896, 896), Q4_K),
    )
    assert relayout.plan(meta) == {"token_embd.weight": relayout.F16}


AVX512 = "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | "  # an AMD EPYC (Zen 4)
AVX512_NO_BF16 = "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | "  # an Intel Xeon
AVX2 = "CPU : AVX2 = 1 | FMA = 1 | "
CONVERTIBLE = _meta(("blk.0.attn_q.weight", (896, 896), relayout.Q5_0))
K_QUANTS_ONLY = _meta(("blk.0.attn_q.weight", (4864, 896), Q4_K))


@pytest.mark.parametrize(
    ("requested", "gpu", "slots", "info", "meta", "layout", "why"),
    [
        ("auto", 0, 16, AVX512, CONVERTIBLE, "16bit", "AVX512"),
        ("auto", -1, 16, AVX512, CONVERTIBLE, "original", "GPU"),
        ("auto", 0, 1, AVX512, CONVERTIBLE, "original", "one request at a time"),
        ("auto", 0, 16, AVX2, CONVERTIBLE, "original", "no AVX512"),
        ("auto", 0, 16, AVX512_NO_BF16, CONVERTIBLE, "original", "no AVX512_BF16"),
        ("auto", 0, 16, AVX512, K_QUANTS_ONLY, "original", "no Q5_0/Q8_0"),
        ("16bit", -1, 16, AVX2, CONVERTIBLE, "16bit", "asked for"),
        ("original", 0, 16, AVX512, CONVERTIBLE, "original", "asked for"),
        ("16bit", 0, 16, AVX512, K_QUANTS_ONLY, "original", "no Q5_0/Q8_0"),
    ],
)
def test_auto_uses_16_bit_only_where_it_was_measured_to_pay(
    requested, gpu, slots, info, meta, layout, why
):
    chosen, reason = relayout.choose(
        requested, n_gpu_layers=gpu, slots=slots, system_info=info, meta=meta
    )
    assert chosen == layout and why in reason


def test_an_unknown_layout_is_refused_with_the_choices():
    with pytest.raises(relayout.RelayoutError) as caught:
        relayout.choose("fp8", n_gpu_layers=0, slots=4, system_info="", meta=CONVERTIBLE)
    assert "fp8" in caught.value.message and "auto, original, 16bit" in caught.value.hint


# -- the copy of the real default model -----------------------------------------------
@pytest.fixture(scope="module")
def copied(model_path, tmp_path_factory) -> Path:
    """A copy of the default model in a directory of its own (its time stamp is
    changed by a test) and the model directory the 16-bit copy goes to."""
    root = tmp_path_factory.mktemp("relayout")
    src = root / "source" / model_path.name
    src.parent.mkdir()
    shutil.copyfile(model_path, src)
    return src


@pytest.fixture(scope="module")
def derived(copied) -> relayout.Derived:
    return relayout.ensure_derived(copied, copied.parent.parent / "models")


PROMPTS = [
    "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>",
    "<|fim_prefix|>import os\n\ndef list_python_files(root):\n    out = []\n    for "
    "<|fim_suffix|>\n    return out\n<|fim_middle|>",
    "<|fim_prefix|>class Stack:\n    def __init__(self):\n        self.items = []\n\n"
    "    def push(self, item):\n        <|fim_suffix|>\n<|fim_middle|>",
]


@pytest.mark.model
def test_the_copy_keeps_every_tensor_and_key_and_converts_the_planned_ones(copied, derived):
    assert derived.made_s is not None and derived.converted > 100
    check_complete(derived.path)
    before, after = read_metadata(copied), read_metadata(derived.path)
    converted = relayout.plan(before)
    assert len(converted) == derived.converted
    assert [(t.name, t.shape) for t in after.tensors] == [(t.name, t.shape) for t in before.tensors]
    for old, new in zip(before.tensors, after.tensors, strict=True):
        assert new.ggml_type == converted.get(old.name, old.ggml_type), old.name
    assert converted["output.weight"] == relayout.F16
    assert converted["blk.0.ffn_up.weight"] == relayout.F16
    assert "token_embd.weight" not in converted
    extra = {k: v for k, v in after.metadata.items() if k not in before.metadata}
    assert set(extra) == {relayout.WEIGHTS_KEY}
    assert all(after.metadata[k] == v for k, v in before.metadata.items())
    assert after.skipped_arrays == before.skipped_arrays
    # The unconverted tensors' bytes are the original's.
    with open(copied, "rb") as a, open(derived.path, "rb") as b:
        for old, new in zip(before.tensors, after.tensors, strict=True):
            if old.name in converted:
                continue
            a.seek(before.data_offset + old.offset)
            b.seek(after.data_offset + new.offset)
            assert a.read(old.nbytes) == b.read(new.nbytes), old.name


def _last_logits(path: Path, prompt: str) -> np.ndarray:
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=512, n_threads=2, verbose=False)
    try:
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.eval(tokens)
        n_vocab = llama_cpp.llama_vocab_n_tokens(llm._model.vocab)
        last = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(last, shape=(n_vocab,)).copy()
    finally:
        llm.close()


@pytest.mark.model
@pytest.mark.parametrize("prompt", PROMPTS)
def test_llama_cpp_reads_the_copy_and_predicts_as_with_the_original(copied, derived, prompt):
    original = _last_logits(copied, prompt)
    sixteen = _last_logits(derived.path, prompt)
    assert original.shape == sixteen.shape and np.isfinite(sixteen).all()
    # The same weights up to one rounding, multiplied by other kernels (the quantized
    # ones round the activations to 8 bits, the 16-bit ones to 16-bit floats): the
    # same favourite and nearly the same distribution. Measured: KL 0.0003-0.006 nats,
    # as for a full F16 conversion of the model (0.0004-0.0024); wrong weights give
    # a different distribution altogether.
    assert int(np.argmax(sixteen)) == int(np.argmax(original))
    p, q = _softmax(original), _softmax(sixteen)
    kl = float(np.sum(p * (np.log(p + 1e-30) - np.log(q + 1e-30))))
    assert kl < 0.03
    assert float(np.abs(sixteen - original).mean()) < 0.1 * float(original.std())


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x.astype(np.float64) - x.max())
    return e / e.sum()


@pytest.mark.model
def test_the_copy_is_reused_until_the_source_changes(copied, derived):
    directory = copied.parent.parent / "models"
    again = relayout.ensure_derived(copied, directory)
    assert again.path == derived.path and again.made_s is None
    stamp = derived.path.stat().st_mtime_ns
    # A damaged copy (cut short) is made again, not loaded.
    with open(derived.path, "r+b") as f:
        f.truncate(derived.path.stat().st_size // 2)
    remade = relayout.ensure_derived(copied, directory)
    assert remade.made_s is not None
    check_complete(remade.path)
    # So is the copy of a source file that changed (a new model under the same name).
    later = copied.stat().st_mtime_ns + 10**9
    os.utime(copied, ns=(later, later))
    remade = relayout.ensure_derived(copied, directory)
    assert remade.made_s is not None and remade.path.stat().st_mtime_ns != stamp
    assert not list(remade.path.parent.glob(".*.part"))  # nothing left behind


def test_a_truncated_source_is_refused_clearly(tmp_path, model_path):
    src = tmp_path / "cut.gguf"
    with open(model_path, "rb") as f:
        src.write_bytes(f.read(8 << 20))
    with pytest.raises(GgufError) as caught:
        relayout.ensure_derived(src, tmp_path / "models")
    assert "truncated" in caught.value.message and "model pull" in caught.value.hint
    assert not (tmp_path / "models" / "derived").exists() or not any(
        (tmp_path / "models" / "derived").iterdir()
    )


@pytest.mark.model
def test_a_model_directory_that_cannot_be_made_is_reported_with_the_way_out(copied, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(relayout.RelayoutError) as caught:
        relayout.ensure_derived(copied, blocker)
    assert str(blocker) in caught.value.message
    assert "--weights original" in caught.value.hint
