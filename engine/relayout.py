"""Model weights laid out for batched decoding on a CPU.

A team endpoint decodes several sequences in one llama.cpp step. On a CPU the cost
of such a step depends on the kernels the weights' types get: the default model
stores most matrices as Q5_0 (its 896-wide rows rule out the k-quants) and its
output matrix as Q8_0, and llama.cpp's CPU kernels for those types do not batch
well (2-core AMD EPYC: 1 row 17.6 ms, 4 rows 55.8 ms; bench/RESULTS.md). The same
numbers stored as 16-bit floats go through llama.cpp's 16-bit matrix kernels,
which do (4 rows 38.2 ms, 16 rows 77.9 instead of 97.6).

That held on the EPYC (AVX512 with AVX512_BF16); on a 2-core Intel Xeon with AVX512
but no AVX512_BF16 the copy lost at every load (team endpoint requests/s 1.46 / 2.17
/ 3.40 against 2.95 / 3.33 / 4.12 with the file as it is, 1 / 4 / 16 clients), so
``choose`` asks for both.

``derive`` writes such a copy: every Q5_0 / Q8_0 matrix except the token embedding
(a lookup, never multiplied) is dequantized exactly as ggml does and rounded once
to F16 (the blocks decoded by llama.cpp's ``gguf`` package); everything else is
copied byte for byte. The copy lives in the model
directory and is made again only when the source file changes. ``choose`` decides
when it is used.

The header is written here, not with gguf's ``GGUFWriter``: the copy takes the
source's key/value bytes as they are, which the writer would need decoded first
(``GGUFReader`` takes about 10 s for the default model's vocabulary; engine/gguf.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize

from engine.base import EngineError
from engine.gguf import (
    GGML_TYPES,
    HEADER,
    MAGIC,
    GgufError,
    GgufMetadata,
    align,
    check_complete,
    read_metadata,
    require_complete,
    tensor_nbytes,
)

ORIGINAL = "original"
SIXTEEN_BIT = "16bit"
AUTO = "auto"
CHOICES = (AUTO, ORIGINAL, SIXTEEN_BIT)
LAYOUT_VERSION = 1  # bump when the derived file's content would change
WEIGHTS_KEY = "safecoder.weights"  # written into the derived file's metadata

F16, Q5_0, Q8_0 = GGMLQuantizationType.F16, GGMLQuantizationType.Q5_0, GGMLQuantizationType.Q8_0
# F16's 11-bit significand holds a Q5_0 value (at most 16 steps of its scale) to
# 1/128 of a step and a Q8_0 value (up to 127 steps) to 1/16 of one. BF16 kernels
# were faster on AVX512-BF16 (4 rows 34.6 against 38.2 ms) but cost 0.5 points of
# HumanEval infilling (bench/RESULTS.md); F16 costs none.
_TARGET = {Q5_0: F16, Q8_0: F16}
_CHUNK_ELEMENTS = 1 << 22  # converted at a time (16 MiB of float32)
_SPARE_BYTES = 64 << 20  # left free on the disk after writing


class RelayoutError(EngineError):
    """The 16-bit copy of a model could not be made or read."""


@dataclass(frozen=True)
class Derived:
    path: Path
    made_s: float | None  # seconds spent making it now; None when an earlier copy was reused
    converted: int  # matrices stored as 16-bit


def plan(meta: GgufMetadata) -> dict[str, int]:
    """Tensor name -> new ggml type for the matrices worth converting."""
    names = {t.name for t in meta.tensors}
    # Without its own output matrix a model multiplies by the token embedding.
    output = "output.weight" if "output.weight" in names else "token_embd.weight"
    return {
        t.name: _TARGET[t.ggml_type]
        for t in meta.tensors
        if len(t.shape) == 2
        and t.ggml_type in _TARGET
        and (t.name != "token_embd.weight" or t.name == output)
    }


def choose(
    requested: str, *, n_gpu_layers: int, slots: int, system_info: str, meta: GgufMetadata
) -> tuple[str, str]:
    """(layout, why) for ``--weights requested``: auto picks 16-bit matrices only where
    they were measured to pay (see the module docstring)."""
    if requested not in CHOICES:
        raise RelayoutError(
            f"unknown weights layout {requested!r}.", f"Use one of: {', '.join(CHOICES)}."
        )
    if requested == ORIGINAL:
        return ORIGINAL, "asked for"
    if not plan(meta):
        return ORIGINAL, "the model has no Q5_0/Q8_0 matrices to convert"
    if requested == SIXTEEN_BIT:
        return SIXTEEN_BIT, "asked for"
    if n_gpu_layers:
        return ORIGINAL, "layers run on a GPU, whose kernels batch the quantized types"
    if slots <= 1:
        return ORIGINAL, "one request at a time: nothing is batched"
    if "AVX512 = 1" not in system_info:
        return ORIGINAL, "this CPU has no AVX512 (16-bit matrices were measured with it)"
    if "AVX512_BF16 = 1" not in system_info:
        # Paid on an AMD EPYC with AVX512_BF16; lost on an Intel Xeon with AVX512 but
        # without it (bench/RESULTS.md, 2026-12-07): not a property of AVX512 alone.
        return ORIGINAL, "this CPU has no AVX512_BF16 (16-bit matrices paid only with it)"
    return SIXTEEN_BIT, "batched decoding on a CPU with AVX512 and AVX512_BF16"


# -- dequantization ----------------------------------------------------------------------
def dequantize(raw: np.ndarray, ggml_type: int, row_bytes: int = 0) -> np.ndarray:
    """Q5_0 or Q8_0 blocks (rows of ``row_bytes``, default: one row) as float32 values,
    exactly as ggml decodes them (llama.cpp's ``gguf`` package: gguf.quants)."""
    rows = raw.reshape(-1, row_bytes or raw.size)
    return gguf_dequantize(rows, GGMLQuantizationType(ggml_type)).reshape(-1)


def _encode(x: np.ndarray) -> bytes:
    return x.astype("<f2").tobytes()


# -- the derived file -----------------------------------------------------------------
def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def derive(
    src: Path, dst: Path, conversions: dict[str, int], meta: GgufMetadata, note: str = ""
) -> None:
    """Write ``src`` (its header read as ``meta``) to ``dst`` with the tensors in
    ``conversions`` stored in their new type. Written to a temporary file beside ``dst``
    and renamed, so ``dst`` is either complete or absent."""
    require_complete(meta)
    if any(t.nbytes is None for t in meta.tensors):
        raise RelayoutError(f"{src.name} has a tensor type this converter does not know.")
    layout: list[tuple[str, tuple[int, ...], int, int, int]] = []  # name, shape, type, at, n
    offset = 0
    for t in meta.tensors:
        new_type = conversions.get(t.name, t.ggml_type)
        if new_type != t.ggml_type and t.ggml_type not in _TARGET:
            raise RelayoutError(f"cannot convert {t.name} from {t.type_name}.")
        offset = align(offset, meta.alignment)
        n = tensor_nbytes(t.shape, new_type)
        layout.append((t.name, t.shape, new_type, offset, n))
        offset += n
    header = HEADER.pack(MAGIC, meta.version, len(layout), meta.kv_count + 1)
    infos = bytearray()
    for name, shape, ggml_type, at, _ in layout:
        dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
        infos += _string(name) + dims + struct.pack("<IQ", ggml_type, at)
    extra = _string(WEIGHTS_KEY) + struct.pack("<I", 8) + _string(note or SIXTEEN_BIT)
    _make_room(src, dst, len(header) + meta.kv_end + len(infos) + offset + meta.alignment)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.part")
    try:
        with (
            open(src, "rb") as f,
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf,
            open(tmp, "wb") as out,
        ):
            out.write(header)
            out.write(buf[HEADER.size : meta.kv_end])
            out.write(extra)
            out.write(infos)
            out.write(b"\0" * (align(out.tell(), meta.alignment) - out.tell()))
            start = out.tell()
            for t, (_, _, new_type, at, _) in zip(meta.tensors, layout, strict=True):
                out.write(b"\0" * (start + at - out.tell()))
                begin = meta.data_offset + t.offset
                if new_type == t.ggml_type:
                    out.write(buf[begin : begin + (t.nbytes or 0)])
                else:
                    _convert(buf, begin, t.shape, t.ggml_type, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dst)
    except OSError as exc:
        raise RelayoutError(
            f"could not write the 16-bit copy of {src.name} to {dst}: {exc}.",
            "Check that directory's permissions and free space, or start the endpoint "
            "with --weights original.",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _make_room(src: Path, dst: Path, need: int) -> None:
    """Make ``dst``'s directory; raise when its disk has not ``need`` bytes to spare."""
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dst.parent).free
    except OSError as exc:
        raise RelayoutError(
            f"cannot make the directory for the 16-bit copy of {src.name} ({dst.parent}): "
            f"{exc.strerror or exc}.",
            "Check SAFECODER_MODEL_DIR (or the cache directory) and its permissions, or "
            "start the endpoint with --weights original.",
        ) from exc
    if free < need + _SPARE_BYTES:
        raise RelayoutError(
            f"not enough disk space in {dst.parent} for the 16-bit copy of {src.name}: "
            f"it needs about {need:,} bytes, {free:,} are free.",
            "Free some space there (or set SAFECODER_MODEL_DIR to a disk with room), "
            "or start the endpoint with --weights original.",
        )


def _convert(buf: mmap.mmap, begin: int, shape: tuple[int, ...], old: int, out) -> None:
    """Write the tensor of type ``old`` at ``begin`` as F16, a few million values at a time."""
    _, block, block_bytes = GGML_TYPES[old]
    row_bytes = shape[0] // block * block_bytes
    rows = tensor_nbytes(shape, old) // row_bytes
    step = max(1, _CHUNK_ELEMENTS // shape[0])
    for first in range(0, rows, step):
        count = min(step, rows - first)
        at = begin + first * row_bytes
        raw = np.frombuffer(buf, dtype=np.uint8, count=count * row_bytes, offset=at)
        out.write(_encode(dequantize(raw, old, row_bytes)))


def derived_path(src: Path, directory: Path) -> Path:
    """Where the 16-bit copy of ``src`` lives (the source's full path is part of the
    name, so two models with one file name do not share a copy)."""
    tag = hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:10]
    stem = src.name.removesuffix(".gguf")
    return directory / "derived" / f"{stem}.{tag}.{SIXTEEN_BIT}.gguf"


def _record(src: Path) -> dict[str, object]:
    st = src.stat()
    return {
        "source": str(src.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "layout": SIXTEEN_BIT,
        "version": LAYOUT_VERSION,
    }


def ensure_derived(src: Path, directory: Path, meta: GgufMetadata | None = None) -> Derived:
    """The 16-bit copy of ``src`` (its header ``meta``, read when not given) in
    ``directory``/derived, made now unless an earlier one for this very file (same
    path, size and modification time) is complete."""
    dst = derived_path(src, directory)
    record_path = dst.with_name(dst.name + ".json")
    try:
        wanted = _record(src)
    except OSError as exc:
        raise RelayoutError(f"cannot read {src}: {exc}.") from exc
    meta = meta if meta is not None else read_metadata(src)
    conversions = plan(meta)
    try:
        if json.loads(record_path.read_text(encoding="utf-8")) == wanted:
            check_complete(dst)
            return Derived(dst, None, len(conversions))
    except (OSError, ValueError, GgufError):
        pass  # absent, stale or damaged: made again
    started = time.monotonic()
    with contextlib.suppress(OSError):  # derive() says what is wrong with the directory
        record_path.unlink(missing_ok=True)
    derive(src, dst, conversions, meta, note=f"{SIXTEEN_BIT} matrices from {src.name}")
    try:
        record_path.write_text(json.dumps(wanted), encoding="utf-8")
    except OSError as exc:
        raise RelayoutError(f"could not write {record_path}: {exc}.") from exc
    return Derived(dst, time.monotonic() - started, len(conversions))
