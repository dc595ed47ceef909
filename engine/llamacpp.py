"""The embedded llama.cpp engine (llama-cpp-python, GGUF, CPU or GPU).

Prompt evaluation reuses the KV cache of the previous call: only the tokens after
the longest common prefix are evaluated, in small chunks so that a cancelled
request stops between chunks (what it evaluated stays cached for the next one).
Generation is greedy by default, token by token, checking stop words, the token
limit, the time budget, the caller's early-stop predicate and cancellation.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from engine.base import (
    CancelToken,
    Deadline,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    StopReason,
    StopWordMatcher,
)
from engine.fim import FimTemplate, detect

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


def load_llama(path: Path, **params):
    """``(llama_cpp module, llama_cpp.Llama)`` for the GGUF file at ``path``; every
    failure (missing or corrupt file, llama-cpp-python missing) is an EngineError
    saying what to do."""
    LlamaCppEngine._check_file(path)
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
        raise EngineError(
            f"llama.cpp could not load the model {path}: {exc}.",
            "The file is probably corrupt or not a model llama.cpp supports: run "
            "`safecoder-lsp model verify` and `safecoder-lsp model pull`, or set model.path "
            "to another GGUF file.",
        ) from exc


class LlamaCppEngine:
    """An engine backed by one ``llama_cpp.Llama``. Not thread-safe: one owner thread."""

    kind = "llamacpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_gpu_layers: int = 0,
        n_batch: int = 512,
        eval_chunk: int = 128,
    ) -> None:
        path = Path(model_path).expanduser()
        self.model_path = path
        threads = n_threads or default_threads()
        started = time.monotonic()
        self._llama_cpp, self._llm = load_llama(
            path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=n_gpu_layers,
            n_batch=n_batch,
        )
        self.load_s = time.monotonic() - started
        self._pieces: list[bytes] | None = None  # token id -> text bytes ("" for control)
        self._piece_arr: np.ndarray | None = None
        self._piece_index: dict[bytes, list[int]] = {}
        self._vocab = self._llm._model.vocab
        self._token_pieces: dict[int, bytes] = {}
        self._n_ctx = self._llm.n_ctx()
        self._eval_chunk = max(8, eval_chunk)
        self._n_threads = threads
        self._n_gpu_layers = n_gpu_layers
        self.metadata: dict[str, str] = dict(self._llm.metadata)
        self.last_stats = GenerationStats()
        # Detected from the vocabulary; the configuration may override it.
        self.fim_template: FimTemplate | None = self.detect_template()

    @staticmethod
    def _check_file(path: Path) -> None:
        if not path.exists():
            raise EngineError(
                f"model file {path} does not exist.",
                "Run `safecoder-lsp model pull` to install the default model, "
                "or set model.path to a GGUF file.",
            )
        if path.is_dir():
            raise EngineError(
                f"model.path {path} is a directory.", "Point model.path at a .gguf file."
            )
        from engine import gguf

        gguf.read_metadata(path)
        gguf.check_complete(path)

    # -- information -------------------------------------------------------
    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind,
            model=self.metadata.get("general.name", self.model_path.name),
            n_ctx=self._n_ctx,
            details={
                "path": str(self.model_path),
                "architecture": self.metadata.get("general.architecture", ""),
                "n_threads": str(self._n_threads),
                "n_gpu_layers": str(self._n_gpu_layers),
                "gpu_offload": str(bool(self._llama_cpp.llama_supports_gpu_offload())),
                "load_s": f"{self.load_s:.2f}",
            },
        )

    def detect_template(self) -> FimTemplate | None:
        vocab_tokens = _SpecialTokenView(self._llm)
        name = f"{self.metadata.get('general.name', '')} {self.model_path.name}"
        return detect(vocab_tokens, name, self.metadata.get("general.architecture", ""))

    # -- tokens ------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=True, special=True)

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        return len(
            self._llm.tokenize(text.encode("utf-8", "surrogatepass"), add_bos=False, special=False)
        )

    # -- generation --------------------------------------------------------
    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        llm = self._llm
        tokens = self.tokenize(request.prompt)
        stats.prompt_tokens = len(tokens)
        heal = b""
        if request.heal and len(tokens) > 1:
            heal = self._vocab_pieces()[tokens[-1]]
            if heal:
                tokens = tokens[:-1]
        if len(tokens) >= self._n_ctx:
            raise EngineError(
                f"the prompt has {len(tokens)} tokens but the context holds {self._n_ctx}.",
                "Lower completion.prefix_tokens / completion.suffix_tokens or raise engine.n_ctx.",
            )
        max_tokens = min(request.max_tokens, self._n_ctx - len(tokens))

        # 1. Prompt: reuse the cached prefix, evaluate the rest in cancellable chunks.
        t0 = time.monotonic()
        cached = llm.n_tokens
        common = 0
        ids = llm._input_ids
        limit = min(cached, len(tokens) - 1)  # always re-evaluate the last token for fresh logits
        while common < limit and ids[common] == tokens[common]:
            common += 1
        stats.reused_tokens = common
        llm.n_tokens = common
        pos = common
        while pos < len(tokens):
            if cancel.cancelled:
                stats.stop_reason = StopReason.CANCELLED
                stats.prompt_eval_s = time.monotonic() - t0
                return
            chunk = tokens[pos : pos + self._eval_chunk]
            llm.eval(chunk)
            pos += len(chunk)
        stats.evaluated_tokens = len(tokens) - common
        t1 = time.monotonic()
        stats.prompt_eval_s = t1 - t0
        # The time budget is for generation: a long prompt is evaluated in full.
        deadline = Deadline(request.time_budget_s)

        # 2. Generation, token by token.
        stop = StopWordMatcher(request.stop)
        decoder = Utf8Decoder()
        text = ""
        if heal:
            extra = self._heal(tokens, heal, stats, cancel)
            if extra is None:
                stats.stop_reason = StopReason.CANCELLED
                stats.generation_s = time.monotonic() - t1
                return
            piece = stop.feed(decoder.feed(extra))
            if piece:
                text += piece
                yield piece
        temp = max(0.0, request.temperature)
        gen = llm.generate(tokens, temp=temp, top_k=1 if temp == 0 else 40, reset=True)
        try:
            for token in gen:
                if self._llama_cpp.llama_vocab_is_eog(self._vocab, token):
                    stats.stop_reason = StopReason.END_OF_TEXT
                    break
                stats.generated_tokens += 1
                piece = stop.feed(decoder.feed(self._piece(token)))
                if piece:
                    text += piece
                    yield piece
                if stop.stopped:
                    stats.stop_reason = StopReason.STOP_WORD
                    break
                if request.should_stop is not None and request.should_stop(text):
                    stats.stop_reason = StopReason.CALLER
                    break
                if cancel.cancelled:
                    stats.stop_reason = StopReason.CANCELLED
                    break
                if stats.generated_tokens >= max_tokens:
                    stats.stop_reason = (
                        StopReason.MAX_TOKENS
                        if max_tokens == request.max_tokens
                        else StopReason.CONTEXT_FULL
                    )
                    break
                if deadline.expired:
                    stats.stop_reason = StopReason.TIME_BUDGET
                    break
        finally:
            gen.close()
            stats.generation_s = time.monotonic() - t1
        if stats.stop_reason not in (StopReason.STOP_WORD, StopReason.CANCELLED):
            tail = stop.feed(decoder.flush()) + stop.flush()
            if tail:
                yield tail

    def _piece(self, token: int) -> bytes:
        piece = self._token_pieces.get(token)
        if piece is None:
            piece = token_bytes(self._llama_cpp, self._vocab, token, special=True)
            self._token_pieces[token] = piece
        return piece

    # -- token healing -------------------------------------------------------
    def _vocab_pieces(self) -> list[bytes]:
        if self._pieces is None:
            llama_cpp = self._llama_cpp
            special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            pieces = []
            for tid in range(self._llm.n_vocab()):
                if llama_cpp.llama_vocab_get_attr(self._vocab, tid) & special:
                    pieces.append(b"")
                else:
                    pieces.append(token_bytes(llama_cpp, self._vocab, tid, special=False))
            self._pieces = pieces
            self._piece_arr = np.array(pieces, dtype="S")
            index: dict[bytes, list[int]] = {}
            for tid, piece in enumerate(pieces):
                if piece:
                    index.setdefault(piece, []).append(tid)
            self._piece_index = index
        return self._pieces

    def _heal(
        self, tokens: list[int], remaining: bytes, stats: GenerationStats, cancel: CancelToken
    ) -> bytes | None:
        """Greedy constrained steps until the output covers ``remaining``.

        Returns the generated bytes beyond ``remaining`` (None if cancelled).
        Each step picks the most likely token whose text starts with the remaining
        text, or is a proper prefix of it.
        """
        pieces = self._vocab_pieces()
        assert self._piece_arr is not None
        llm = self._llm
        n_vocab = llm.n_vocab()
        while remaining:
            if cancel.cancelled:
                return None
            ptr = self._llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(n_vocab,))
            mask = np.char.startswith(self._piece_arr, remaining)
            for j in range(1, len(remaining)):
                for tid in self._piece_index.get(remaining[:j], ()):
                    mask[tid] = True
            choice = int(np.argmax(np.where(mask, logits, -np.inf)))
            llm.eval([choice])
            tokens.append(choice)
            stats.generated_tokens += 1
            piece = pieces[choice]
            if piece.startswith(remaining):
                return piece[len(remaining) :]
            remaining = remaining[len(piece) :]
        return b""

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]


class _SpecialTokenView:
    """``in`` over the vocabulary's special/control tokens, looked up lazily."""

    def __init__(self, llm) -> None:
        self._llm = llm
        self._tokens: set[str] | None = None

    def _load(self) -> set[str]:
        if self._tokens is None:
            import llama_cpp

            vocab = self._llm._model.vocab
            found: set[str] = set()
            for tid in range(self._llm.n_vocab()):
                attr = llama_cpp.llama_vocab_get_attr(vocab, tid)
                if attr & (
                    llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
                ):
                    raw = llama_cpp.llama_vocab_get_text(vocab, tid)
                    if raw:
                        found.add(raw.decode("utf-8", "replace"))
            self._tokens = found
        return self._tokens

    def __contains__(self, item: object) -> bool:
        return item in self._load()
