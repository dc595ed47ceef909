"""What the two llama.cpp engines share: loading a GGUF model with llama-cpp-python,
tokenizing, the text of tokens, token healing and FIM template detection.

Used by the serial engine (engine/llamacpp.py) and the batched one
(engine/batched.py); each owns one ``llama_cpp.Llama`` and one ``Vocab`` over it.

Token healing (``request.heal``): the prompt's last token is dropped and then
regenerated greedily under the constraint that its text starts with that token's
text (``Vocab.split_for_healing``, then ``Vocab.heal_step`` for each step until
nothing is left to heal), so that a prompt ending inside a word (``pri``) is not
continued as if the word had ended.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Container
from pathlib import Path
from typing import Any

import numpy as np

from engine import lora as lora_fits
from engine.base import EngineError
from engine.fim import FimTemplate, detect_from_gguf

# Token generation is bound by memory bandwidth: past about 8 threads more cores
# do not make a small model faster, and they take the CPU from the editor.
MAX_AUTO_THREADS = 8


def default_threads() -> int:
    """engine.n_threads = 0: the cores this process may use, at most MAX_AUTO_THREADS."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_AUTO_THREADS))


def token_bytes(llama_cpp, vocab, token: int, *, special: bool) -> bytes:
    """The bytes of one token. llama-cpp-python's own helpers use a 32-byte buffer and
    return nothing for longer tokens (Qwen has 240: runs of spaces, ``#----`` lines);
    this asks again with the size llama.cpp says it needs."""
    size = 64
    while True:
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, size, 0, special)
        if n >= 0:
            return buf.raw[:n]
        size = -n


class Utf8Decoder:
    """Turns token bytes into text, holding back incomplete UTF-8 sequences."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> str:
        buf = self._buf + data
        # Find the longest decodable prefix (an incomplete sequence is at most 3 bytes).
        for cut in range(len(buf), max(len(buf) - 4, -1), -1):
            try:
                text = buf[:cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._buf = buf[cut:]
            return text
        self._buf = b""
        return buf.decode("utf-8", "replace")

    def flush(self) -> str:
        out, self._buf = self._buf, b""
        return out.decode("utf-8", "replace")


# -- loading ----------------------------------------------------------------------------
def check_file(path: Path) -> None:
    """Raise an EngineError saying what to do when ``path`` is not a complete GGUF file."""
    if not path.exists():
        raise EngineError(
            f"model file {path} does not exist.",
            "Run `safecoder-lsp model pull` to install the default model, "
            "or set model.path to a GGUF file.",
        )
    if path.is_dir():
        raise EngineError(f"model.path {path} is a directory.", "Point model.path at a .gguf file.")
    from engine import gguf

    gguf.read_metadata(path)
    gguf.check_complete(path)


def load_llama(path: Path, lora: Path | None = None, **params):
    """``(llama_cpp module, llama_cpp.Llama)`` for the GGUF file at ``path``, with the
    GGUF LoRA adapter ``lora`` applied when given; every failure (missing or corrupt
    file, an adapter of another model, llama-cpp-python missing) is an EngineError
    saying what to do."""
    check_file(path)
    if lora is not None:
        lora_fits.check(lora, path)
        params["lora_path"] = str(lora)
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - dependency is required
        raise EngineError(
            f"llama-cpp-python is not installed ({exc}).",
            "Install it with `pip install llama-cpp-python` (see README: GPU builds).",
        ) from exc
    try:
        return llama_cpp, llama_cpp.Llama(str(path), verbose=False, **params)
    except (ValueError, RuntimeError, OSError) as exc:
        if lora is not None and "LoRA" in str(exc):
            raise EngineError(
                f"llama.cpp could not apply the LoRA adapter {lora} to {path.name}: {exc}.",
                lora_fits.FIX,
            ) from exc
        raise EngineError(
            f"llama.cpp could not load the model {path}: {exc}.",
            "The file is probably corrupt or not a model llama.cpp supports: run "
            "`safecoder-lsp model verify` and `safecoder-lsp model pull`, or set model.path "
            "to another GGUF file.",
        ) from exc


def apply_lora(llama_cpp, llm, ctx) -> None:
    """Apply the adapter ``llm`` was loaded with (if any) to another context ``ctx``."""
    adapter = getattr(llm, "_lora_adapter", None)
    if adapter is None:
        return
    adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
    scales = (ctypes.c_float * 1)(llm.lora_scale)
    if llama_cpp.llama_set_adapters_lora(ctx, adapters, 1, scales):
        raise EngineError(
            f"llama.cpp could not apply the LoRA adapter {llm.lora_path}.",
            lora_fits.FIX,
        )


# -- tokens -----------------------------------------------------------------------------
def tokenize(llm, text: str, *, bos: bool = True, special: bool = True) -> list[int]:
    """A prompt's tokens (with BOS, special tokens such as FIM markers recognized)."""
    return llm.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=bos, special=special)


def count_tokens(llm, text: str) -> int:
    """How many tokens ``text`` is as plain text inside a prompt."""
    if not text:
        return 0
    return len(tokenize(llm, text, bos=False, special=False))


def _special(llama_cpp) -> int:
    return llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED


class Vocab:
    """A model's tokens as text: output pieces (cached) and token healing's tables
    (built on first use, from any thread)."""

    def __init__(self, llama_cpp, llm) -> None:
        self._lc = llama_cpp
        self._vocab = llm._model.vocab
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        self._pieces: dict[int, bytes] = {}  # token -> text bytes (special tokens rendered)
        self._lock = threading.Lock()
        self._heal_pieces: list[bytes] | None = None  # token -> text bytes ("" for control)
        self._heal_arr: np.ndarray | None = None
        self._heal_index: dict[bytes, list[int]] = {}

    def piece(self, token: int) -> bytes:
        """The bytes a generated token adds to the text."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = token_bytes(self._lc, self._vocab, token, special=True)
            self._pieces[token] = piece
        return piece

    def is_eog(self, token: int) -> bool:
        return bool(self._lc.llama_vocab_is_eog(self._vocab, token))

    # -- token healing -------------------------------------------------------------
    def heal_pieces(self) -> list[bytes]:
        """Every token's text ("" for control tokens), built once."""
        with self._lock:
            if self._heal_pieces is None:
                lc, special = self._lc, _special(self._lc)
                pieces = [
                    b""
                    if lc.llama_vocab_get_attr(self._vocab, tid) & special
                    else token_bytes(lc, self._vocab, tid, special=False)
                    for tid in range(self.n_vocab)
                ]
                index: dict[bytes, list[int]] = {}
                for tid, piece in enumerate(pieces):
                    if piece:
                        index.setdefault(piece, []).append(tid)
                self._heal_arr = np.array(pieces, dtype="S")
                self._heal_index = index
                self._heal_pieces = pieces
            return self._heal_pieces

    def split_for_healing(self, tokens: list[int]) -> tuple[list[int], bytes]:
        """(the prompt without its last token, that token's text to regenerate), or
        the prompt unchanged and b"" when there is nothing to heal."""
        if len(tokens) > 1:
            heal = self.heal_pieces()[tokens[-1]]
            if heal:
                return tokens[:-1], heal
        return tokens, b""

    def heal_step(self, logits: np.ndarray, remaining: bytes) -> tuple[int, bytes, bytes]:
        """One constrained greedy step: the most likely token whose text starts with
        ``remaining`` or is a proper prefix of it. Returns (token, text beyond the
        healed part, what is left to heal); healing ends when the last is b""."""
        pieces = self.heal_pieces()
        assert self._heal_arr is not None
        mask = np.char.startswith(self._heal_arr, remaining)
        if remaining.isspace():
            self._no_more_whitespace(mask, remaining)
        for j in range(1, len(remaining)):
            for tid in self._heal_index.get(remaining[:j], ()):
                mask[tid] = True
        token = int(np.argmax(np.where(mask, logits, -np.inf)))
        piece = pieces[token]
        if piece.startswith(remaining):
            return token, piece[len(remaining) :], b""
        return token, b"", remaining[len(piece) :]

    def _no_more_whitespace(self, mask: np.ndarray, remaining: bytes) -> None:
        """Healing typed indentation: a token that repeats it exactly or adds more
        whitespace is not a choice (from there the model writes an extra space before
        the code, or whitespace until the time budget ends), only one that goes on
        with code right after it, or a shorter run of it."""
        pieces = self.heal_pieces()
        for tid in np.flatnonzero(mask):
            rest = pieces[tid][len(remaining) :]
            if not rest or rest[:1].isspace():
                mask[tid] = False


# -- FIM template ------------------------------------------------------------------------
def detect_template(llm, metadata: dict[str, str], model_path: Path) -> FimTemplate | None:
    """The FIM template of the loaded model: from its special tokens, name and
    architecture (engine.fim.detect_from_gguf)."""
    return detect_from_gguf(SpecialTokenView(llm), metadata, model_path.name)


class SpecialTokenView(Container[str]):
    """``in`` over the vocabulary's special/control tokens, looked up lazily."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._tokens: set[str] | None = None

    def _load(self) -> set[str]:
        if self._tokens is None:
            import llama_cpp

            vocab = self._llm._model.vocab
            special = _special(llama_cpp)
            found: set[str] = set()
            for tid in range(self._llm.n_vocab()):
                if llama_cpp.llama_vocab_get_attr(vocab, tid) & special:
                    raw = llama_cpp.llama_vocab_get_text(vocab, tid)
                    if raw:
                        found.add(raw.decode("utf-8", "replace"))
            self._tokens = found
        return self._tokens

    def __contains__(self, item: object) -> bool:
        return item in self._load()
