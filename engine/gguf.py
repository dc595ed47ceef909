"""A small reader for GGUF headers: metadata, tokens and tensor layout.

Only the header is read (through a memory map, so a 500 MB model costs a few
milliseconds); the tensor data is never touched. Large arrays (the vocabulary,
the merges) are skipped unless asked for: ``read_metadata(path, want_tokens=True)``
returns ``tokenizer.ggml.tokens`` as a list of strings.

``check_complete`` computes where the tensor data must end from the tensor
infos and reports a truncated file (an interrupted download or copy) before an
inference engine tries to map it.

Layout (little-endian, versions 2 and 3)::

    magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
    kv_count x (key: string, value_type u32, value)
    tensor_count x (name: string, n_dims u32, dims u64[n_dims], ggml_type u32, offset u64)
    padding to general.alignment (default 32) | tensor data

A string is a u64 byte length followed by UTF-8 bytes; an array is an element
type u32, a u64 count and the elements.

Why not llama.cpp's ``gguf`` package (a dependency: relayout.py decodes blocks with
gguf.quants) for reading headers: its ``GGUFReader`` turns every element of every
array into numpy views, the 151,936-token vocabulary and the merges included, before
it returns. Measured on the default model (491 MB, 291 tensors; 2-core EPYC, other
work running): ``GGUFReader`` 9.6 s, ``read_metadata`` 72 ms, ``check_complete``
68 ms; on the large model 8.9 s against 131 ms. Every model load, pull and verify
reads the header, so this reader stays, and it imports only the standard library
(``gguf`` imports numpy and PyYAML: 40-80 ms here even with numpy loaded, and
numpy must not come before llama.cpp in a process that loads the model, see
safecoder_lsp/native.py). Its ggml type table (``GGML_TYPES``) and its tensor
layout are checked against the package's (``GGML_QUANT_SIZES``, ``GGUFReader``) by
tests/unit/engine/test_gguf.py.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.base import EngineError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
TOKENS_KEY = "tokenizer.ggml.tokens"

# Arrays with more elements than this are left out of ``metadata`` (their
# length is kept in ``skipped_arrays``).
SMALL_ARRAY_LIMIT = 1024
# Limits beyond which a header is corrupt rather than merely large.
_MAX_COUNT = 1 << 24  # tensors, key/value pairs
_MAX_ARRAY = 1 << 32
_MAX_STRING = 1 << 30
_MAX_KEY = 1 << 16
_MAX_DIMS = 4  # GGML_MAX_DIMS

# GGUF value types: id -> (struct format, byte size) for the fixed-size ones.
_T_STRING = 8
_T_ARRAY = 9
_T_BOOL = 7
_SCALARS: dict[int, tuple[str, int]] = {
    0: ("B", 1),  # uint8
    1: ("b", 1),  # int8
    2: ("H", 2),  # uint16
    3: ("h", 2),  # int16
    4: ("I", 4),  # uint32
    5: ("i", 4),  # int32
    6: ("f", 4),  # float32
    7: ("?", 1),  # bool
    10: ("Q", 8),  # uint64
    11: ("q", 8),  # int64
    12: ("d", 8),  # float64
}

_QK_K = 256  # elements per super-block of the k-quants

# ggml tensor types: id -> (name, elements per block, bytes per block), written
# from the block structs in ggml's ggml-common.h.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),  # fp16 scale, 32 x 4-bit
    3: ("Q4_1", 32, 2 + 2 + 16),  # fp16 scale and min, 32 x 4-bit
    6: ("Q5_0", 32, 2 + 4 + 16),  # fp16 scale, 32 high bits, 32 x 4-bit
    7: ("Q5_1", 32, 2 + 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 4 + 4 + 32),  # fp32 scale and sum
    10: ("Q2_K", _QK_K, _QK_K // 16 + _QK_K // 4 + 2 + 2),
    11: ("Q3_K", _QK_K, _QK_K // 8 + _QK_K // 4 + 12 + 2),
    12: ("Q4_K", _QK_K, 2 + 2 + 12 + _QK_K // 2),
    13: ("Q5_K", _QK_K, 2 + 2 + 12 + _QK_K // 8 + _QK_K // 2),
    14: ("Q6_K", _QK_K, _QK_K // 2 + _QK_K // 4 + _QK_K // 16 + 2),
    15: ("Q8_K", _QK_K, 4 + _QK_K + 2 * (_QK_K // 16)),
    16: ("IQ2_XXS", _QK_K, 2 + 2 * (_QK_K // 8)),
    17: ("IQ2_XS", _QK_K, 2 + 2 * (_QK_K // 8) + _QK_K // 32),
    18: ("IQ3_XXS", _QK_K, 2 + 3 * (_QK_K // 8)),
    19: ("IQ1_S", _QK_K, 2 + _QK_K // 8 + _QK_K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    22: ("IQ2_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 16),
    23: ("IQ4_XS", _QK_K, 2 + 2 + _QK_K // 64 + _QK_K // 2),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", _QK_K, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", _QK_K, 2 + 4 * 13),
    35: ("TQ2_0", _QK_K, 2 + _QK_K // 4),
    39: ("MXFP4", 32, 1 + 16),  # e8m0 scale, 32 x 4-bit
    40: ("NVFP4", 64, 4 + 32),
    41: ("Q1_0", 128, 2 + 16),
}

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, key/value count

Scalar = int | float | bool | str


class GgufError(EngineError):
    """A file is not a GGUF model this reader understands, or it is damaged."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the start of the data section
    nbytes: int | None  # None for a ggml type this reader does not know

    @property
    def type_name(self) -> str:
        known = GGML_TYPES.get(self.ggml_type)
        return known[0] if known else f"type {self.ggml_type}"


@dataclass
class GgufMetadata:
    path: Path
    version: int
    tensor_count: int
    kv_count: int
    metadata: dict[str, Scalar | list[Scalar]]
    tokens: list[str] | None
    file_size: int
    alignment: int = DEFAULT_ALIGNMENT
    data_offset: int = 0  # where the tensor data section starts
    kv_end: int = 0  # where the key/value section ends (the tensor infos start)
    tensors: list[TensorInfo] = field(default_factory=list)
    skipped_arrays: dict[str, int] = field(default_factory=dict)  # key -> element count

    @property
    def architecture(self) -> str:
        value = self.metadata.get("general.architecture", "")
        return value if isinstance(value, str) else ""

    @property
    def name(self) -> str:
        value = self.metadata.get("general.name", "")
        return value if isinstance(value, str) else ""

    @property
    def data_end(self) -> int:
        """The least file size that holds every tensor's data."""
        end = self.data_offset
        for t in self.tensors:
            end = max(end, self.data_offset + t.offset + (t.nbytes or 0))
        return end


_REPULL_HINT = (
    "The file is incomplete (an interrupted download or copy): run "
    "`safecoder-lsp model pull` again, or copy the file again."
)
_CORRUPT_HINT = (
    "The file is damaged or not a GGUF model: run `safecoder-lsp model pull` again, "
    "or point model.path at another GGUF file."
)


def describe_start(head: bytes) -> str:
    """What a file that is not a GGUF looks like, for the error message."""
    if not head:
        return "the file is empty"
    shown = repr(head[:16])
    if head.startswith(b"PK\x03\x04"):
        guess = " (a zip archive: a wheel must be joined with `safecoder-lsp model pull`)"
    elif head.lstrip()[:1] == b"<":
        guess = " (an HTML or XML page: a proxy or login page instead of the model?)"
    elif head.startswith(b"version https://git-lfs"):
        guess = " (a Git LFS pointer, not the model itself)"
    elif head[:4] in (b"ggml", b"ggmf", b"ggjt", b"lmgg", b"fmgg", b"tjgg"):
        guess = " (the old GGML format: convert it to GGUF with llama.cpp)"
    elif head[:4] == b"FUGG":
        guess = " (a byte-swapped GGUF)"
    else:
        guess = ""
    return f"it starts with {shown}{guess}"


class _Reader:
    """Bounds-checked little-endian reads from a buffer holding the whole file."""

    __slots__ = ("buf", "label", "pos", "size")

    def __init__(self, buf: Any, size: int, label: str) -> None:
        self.buf = buf
        self.size = size
        self.pos = 0
        self.label = label

    def truncated(self, what: str, pos: int, need: int) -> GgufError:
        return GgufError(
            f"truncated header in {self.label}: {what} at byte {pos} needs {need} bytes, "
            f"but the file ends at byte {self.size} (file size {self.size} bytes).",
            _REPULL_HINT,
        )

    def implausible(self, detail: str) -> GgufError:
        return GgufError(
            f"{self.label} has an implausible GGUF header: {detail} (file size {self.size} bytes).",
            _CORRUPT_HINT,
        )

    def need(self, n: int, what: str) -> None:
        if self.pos + n > self.size:
            raise self.truncated(what, self.pos, n)

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return v

    def string(self, what: str, limit: int = _MAX_STRING) -> str:
        start = self.pos
        n = self.u64(what)
        if n > limit:
            raise self.implausible(f"{what} at byte {start} claims {n} bytes")
        self.need(n, what)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(raw).decode("utf-8", "replace")

    def scalar(self, vtype: int, what: str) -> Scalar:
        if vtype == _T_STRING:
            return self.string(what)
        fmt, size = _SCALARS[vtype]
        self.need(size, what)
        (v,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return bool(v) if vtype == _T_BOOL else v

    def skip_strings(self, count: int, what: str) -> None:
        buf, pos, size = self.buf, self.pos, self.size
        unpack = _U64.unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise self.truncated(what, pos, 8)
            (n,) = unpack(buf, pos)
            if n > _MAX_STRING:
                raise self.implausible(f"a string in {what} at byte {pos} claims {n} bytes")
            pos += 8 + n
        if pos > size:
            raise self.truncated(what, self.pos, pos - self.pos)
        self.pos = pos

    def read_strings(self, count: int, what: str) -> list[str]:
        buf, pos, size = self.buf, self.pos, self.size
        unpack = _U64.unpack_from
        out: list[str] = []
        append = out.append
        for _ in range(count):
            if pos + 8 > size:
                raise self.truncated(what, pos, 8)
            (n,) = unpack(buf, pos)
            end = pos + 8 + n
            if end > size:
                if n > _MAX_STRING:
                    raise self.implausible(f"a string in {what} at byte {pos} claims {n} bytes")
                raise self.truncated(what, pos, 8 + n)
            append(bytes(buf[pos + 8 : end]).decode("utf-8", "replace"))
            pos = end
        self.pos = pos
        return out

    def value_type(self, what: str) -> int:
        start = self.pos
        vtype = self.u32(what)
        if vtype not in _SCALARS and vtype not in (_T_STRING, _T_ARRAY):
            raise self.implausible(f"unknown value type {vtype} for {what} at byte {start}")
        return vtype

    def array(self, key: str, keep: bool) -> tuple[list[Any] | None, int]:
        """Read (keep=True) or skip an array value; returns (elements or None, count)."""
        what = f"the array {key!r}"
        etype = self.value_type(what)
        start = self.pos
        count = self.u64(what)
        if count > _MAX_ARRAY:
            raise self.implausible(f"{what} at byte {start} claims {count} elements")
        if etype == _T_ARRAY:  # arrays of arrays: never kept
            for _ in range(count):
                self.array(key, keep=False)
            return None, count
        if etype == _T_STRING:
            if keep:
                return self.read_strings(count, what), count
            self.skip_strings(count, what)
            return None, count
        fmt, size = _SCALARS[etype]
        self.need(count * size, what)
        values: list[Any] | None = None
        if keep:
            values = list(struct.unpack_from(f"<{count}{fmt}", self.buf, self.pos))
            if etype == _T_BOOL:
                values = [bool(v) for v in values]
        self.pos += count * size
        return values, count


def _open_buffer(path: Path, label: str) -> tuple[Any, Any, int]:
    """(file, buffer, size): a read-only memory map, or the bytes when mapping fails."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the caller
    except FileNotFoundError:
        raise GgufError(
            f"model file {label} does not exist.",
            "Run `safecoder-lsp model pull` to install the default model, "
            "or set model.path to a GGUF file.",
        ) from None
    except IsADirectoryError:
        raise GgufError(
            f"{label} is a directory, not a model file.", "Point model.path at a .gguf file."
        ) from None
    except OSError as exc:
        raise GgufError(
            f"cannot read the model file {label}: {exc.strerror or exc}.",
            "Check the file's permissions.",
        ) from exc
    try:
        size = f.seek(0, 2)
        f.seek(0)
        if size == 0:
            return f, b"", 0
        try:
            return f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), size
        except (OSError, ValueError):  # not a regular file: read it instead
            data = f.read()
            return f, data, len(data)
    except BaseException:
        f.close()
        raise


def _parse(path: Path, *, want_tokens: bool, label: str) -> GgufMetadata:
    f, buf, size = _open_buffer(path, label)
    try:
        return _parse_buffer(path, buf, size, want_tokens=want_tokens, label=label)
    finally:
        if isinstance(buf, mmap.mmap):
            buf.close()
        f.close()


def _parse_buffer(
    path: Path, buf: Any, size: int, *, want_tokens: bool, label: str
) -> GgufMetadata:
    r = _Reader(buf, size, label)
    version, tensor_count, kv_count = _read_header(r)
    metadata, skipped, tokens = _read_key_values(r, kv_count, want_tokens)
    kv_end = r.pos
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if (
        not isinstance(alignment, int)
        or isinstance(alignment, bool)
        or alignment <= 0
        or alignment & (alignment - 1)
    ):
        raise r.implausible(f"general.alignment = {alignment!r} (must be a power of two)")
    tensors = [_read_tensor_info(r, i) for i in range(tensor_count)]
    return GgufMetadata(
        path=path,
        version=version,
        tensor_count=tensor_count,
        kv_count=kv_count,
        metadata=metadata,
        tokens=tokens,
        file_size=size,
        alignment=alignment,
        data_offset=align(r.pos, alignment),
        kv_end=kv_end,
        tensors=tensors,
        skipped_arrays=skipped,
    )


def _read_header(r: _Reader) -> tuple[int, int, int]:
    """(version, tensor count, key/value count); ``r`` is left after the header."""
    buf, size, label = r.buf, r.size, r.label
    head = bytes(buf[:32])
    if head[:4] != MAGIC:
        raise GgufError(
            f"{label} is not a GGUF model file: {describe_start(head)}.",
            "Point model.path at a .gguf file, or run `safecoder-lsp model pull` to "
            "install the default model.",
        )
    if size < HEADER.size:
        r.pos = 4
        r.need(HEADER.size - 4, "the GGUF header")
    _, version, tensor_count, kv_count = HEADER.unpack_from(buf, 0)
    if version not in SUPPORTED_VERSIONS:
        if version & 0xFFFF == 0 and version:
            detail = f"a big-endian GGUF (version {int.from_bytes(head[4:8], 'big')})"
        else:
            detail = f"GGUF version {version}"
        raise GgufError(
            f"{label} is {detail}, which is not supported "
            f"(supported: little-endian GGUF versions {', '.join(map(str, SUPPORTED_VERSIONS))}).",
            "Convert the model with a current llama.cpp (convert_hf_to_gguf.py), or use another "
            "GGUF file.",
        )
    r.pos = HEADER.size
    if tensor_count > _MAX_COUNT:
        raise r.implausible(f"tensor count {tensor_count}")
    if kv_count > _MAX_COUNT:
        raise r.implausible(f"metadata key/value count {kv_count}")
    return version, tensor_count, kv_count


def _read_key_values(
    r: _Reader, kv_count: int, want_tokens: bool
) -> tuple[dict[str, Scalar | list[Scalar]], dict[str, int], list[str] | None]:
    """(metadata, skipped arrays: key -> element count, the vocabulary if wanted)."""
    metadata: dict[str, Scalar | list[Scalar]] = {}
    skipped: dict[str, int] = {}
    tokens: list[str] | None = None
    for i in range(kv_count):
        key = r.string(f"metadata key {i}", limit=_MAX_KEY)
        vtype = r.value_type(f"the value of {key!r}")
        if vtype != _T_ARRAY:
            metadata[key] = r.scalar(vtype, f"the value of {key!r}")
            continue
        if key == TOKENS_KEY and want_tokens:
            values, _ = r.array(key, keep=True)
            tokens = [str(v) for v in values or []]
            continue
        mark = r.pos
        _, count = r.array(key, keep=False)
        if count <= SMALL_ARRAY_LIMIT and key != TOKENS_KEY:
            end = r.pos
            r.pos = mark
            values, _ = r.array(key, keep=True)
            r.pos = end
            if values is not None:
                metadata[key] = values
                continue
        skipped[key] = count
    return metadata, skipped, tokens


def _read_tensor_info(r: _Reader, i: int) -> TensorInfo:
    name = r.string(f"the name of tensor {i}", limit=_MAX_KEY)
    what = f"tensor {name!r}"
    n_dims = r.u32(what)
    if n_dims > _MAX_DIMS:
        raise r.implausible(f"{what} has {n_dims} dimensions (at most {_MAX_DIMS})")
    r.need(8 * n_dims, what)
    shape = struct.unpack_from(f"<{n_dims}Q", r.buf, r.pos)
    r.pos += 8 * n_dims
    ggml_type = r.u32(what)
    offset = r.u64(what)
    return TensorInfo(name, shape, ggml_type, offset, _tensor_nbytes(r, what, shape, ggml_type))


def align(n: int, alignment: int) -> int:
    """``n`` rounded up to a multiple of ``alignment``."""
    return -(-n // alignment) * alignment


def tensor_nbytes(shape: tuple[int, ...], ggml_type: int) -> int:
    """Bytes of a tensor of a known ggml type (its first dimension whole blocks)."""
    _, block, block_bytes = GGML_TYPES[ggml_type]
    n = 1
    for d in shape:
        n *= d
    return n // block * block_bytes


def _tensor_nbytes(r: _Reader, what: str, shape: tuple[int, ...], ggml_type: int) -> int | None:
    known = GGML_TYPES.get(ggml_type)
    if known is None:
        return None
    if shape and shape[0] % known[1]:
        raise r.implausible(
            f"{what} has a first dimension of {shape[0]}, not a multiple of the "
            f"{known[0]} block size {known[1]}"
        )
    return tensor_nbytes(shape, ggml_type)


def read_metadata(
    path: str | Path, *, want_tokens: bool = False, label: str | None = None
) -> GgufMetadata:
    """Parse the header of a GGUF file. ``label`` names the file in messages (default: path)."""
    p = Path(path)
    return _parse(p, want_tokens=want_tokens, label=label or str(p))


def check_complete(path: str | Path, *, label: str | None = None) -> None:
    """Raise GgufError when the file is shorter than its tensor infos say."""
    require_complete(read_metadata(path, label=label), label=label)


def require_complete(meta: GgufMetadata, *, label: str | None = None) -> None:
    """``check_complete`` for a header already read."""
    expected = meta.data_end
    if meta.file_size < expected:
        raise GgufError(
            f"model file is truncated: expected at least {expected} bytes, found "
            f"{meta.file_size} ({label or meta.path}).",
            "The download or copy was interrupted: run `safecoder-lsp model pull` again "
            "(or copy the file again).",
        )
