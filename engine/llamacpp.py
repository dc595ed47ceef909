"""The embedded llama.cpp engine (llama-cpp-python, GGUF, CPU or GPU).

Prompt evaluation reuses the KV cache of the previous call: only the tokens after
the longest common prefix are evaluated, in small chunks so that a cancelled
request stops between chunks (what it evaluated stays cached for the next one).
Generation is greedy by default, token by token, checking stop words, the token
limit, the time budget, the caller's early-stop predicate and cancellation.
"""

from __future__ import annotations

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
    common_prefix,
)
from engine.fim import FimTemplate
from engine.llama_model import (
    Utf8Decoder,
    Vocab,
    count_tokens,
    default_threads,
    detect_template,
    load_llama,
    tokenize,
)


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
        lora_path: str | Path | None = None,
    ) -> None:
        path = Path(model_path).expanduser()
        self.model_path = path
        self.lora_path = Path(lora_path).expanduser() if lora_path else None
        threads = n_threads or default_threads()
        started = time.monotonic()
        self._llama_cpp, self._llm = load_llama(
            path,
            self.lora_path,
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=n_gpu_layers,
            n_batch=n_batch,
        )
        self.load_s = time.monotonic() - started
        self._vocab = Vocab(self._llama_cpp, self._llm)
        self._n_ctx = self._llm.n_ctx()
        self._eval_chunk = max(8, eval_chunk)
        self._n_threads = threads
        self._n_gpu_layers = n_gpu_layers
        self.metadata: dict[str, str] = dict(self._llm.metadata)
        self.last_stats = GenerationStats()
        # Detected from the vocabulary; the configuration may override it.
        self.fim_template: FimTemplate | None = self.detect_template()

    # -- information -------------------------------------------------------
    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind,
            model=self.metadata.get("general.name", self.model_path.name),
            n_ctx=self._n_ctx,
            details={
                "path": str(self.model_path),
                "lora_path": str(self.lora_path or ""),
                "architecture": self.metadata.get("general.architecture", ""),
                "n_threads": str(self._n_threads),
                "n_gpu_layers": str(self._n_gpu_layers),
                "gpu_offload": str(bool(self._llama_cpp.llama_supports_gpu_offload())),
                "load_s": f"{self.load_s:.2f}",
            },
        )

    def detect_template(self) -> FimTemplate | None:
        return detect_template(self._llm, self.metadata, self.model_path)

    # -- tokens ------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        return tokenize(self._llm, text)

    def count_tokens(self, text: str) -> int:
        return count_tokens(self._llm, text)

    # -- generation --------------------------------------------------------
    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        tokens, heal = self._prompt(request, stats)
        max_tokens = min(request.max_tokens, self._n_ctx - len(tokens))
        t0 = time.monotonic()
        evaluated = self._eval_prompt(tokens, stats, cancel)
        t1 = time.monotonic()
        stats.prompt_eval_s = t1 - t0
        if not evaluated:
            stats.stop_reason = StopReason.CANCELLED
            return
        # The time budget is for generation: a long prompt is evaluated in full.
        deadline = Deadline(request.time_budget_s)
        stop = StopWordMatcher(request.stop)
        decoder = Utf8Decoder()
        text = ""
        if heal:
            extra = self._heal(tokens, heal, stats, cancel)
            if extra is None:
                stats.stop_reason = StopReason.CANCELLED
                stats.generation_s = time.monotonic() - t1
                return
            text = stop.feed(decoder.feed(extra))
            if text:
                yield text
        temp = max(0.0, request.temperature)
        gen = self._llm.generate(tokens, temp=temp, top_k=1 if temp == 0 else 40, reset=True)
        try:
            for token in gen:
                if self._vocab.is_eog(token):
                    stats.stop_reason = StopReason.END_OF_TEXT
                    break
                stats.generated_tokens += 1
                piece = stop.feed(decoder.feed(self._vocab.piece(token)))
                if piece:
                    text += piece
                    yield piece
                reason = self._stop_reason(request, stats, stop, text, cancel, deadline, max_tokens)
                if reason is not None:
                    stats.stop_reason = reason
                    break
        finally:
            gen.close()
            stats.generation_s = time.monotonic() - t1
        if stats.stop_reason not in (StopReason.STOP_WORD, StopReason.CANCELLED):
            tail = stop.feed(decoder.flush()) + stop.flush()
            if tail:
                yield tail

    def cached_prefix(self, prompt: str) -> int:
        """How many of ``prompt``'s first tokens the KV cache holds now. A hint for
        choosing between prompts: it may be read while another thread evaluates."""
        return self._held(self.tokenize(prompt))

    def _held(self, tokens: list[int]) -> int:
        """How many of ``tokens`` the KV cache holds, from the start."""
        return common_prefix(self._llm._input_ids, tokens)

    def prefill(
        self, prompt: str, cancel: CancelToken, stats: GenerationStats | None = None
    ) -> GenerationStats:
        """Evaluate ``prompt`` into the KV cache and generate nothing (a warm-up: the
        next request that starts with it evaluates only the rest). A cancel stops it
        between chunks; what was evaluated stays cached. ``stats`` (returned) shows
        the progress while it runs."""
        stats = stats if stats is not None else GenerationStats()
        self.last_stats = stats
        tokens = self.tokenize(prompt)[: self._n_ctx - 1]
        stats.prompt_tokens = len(tokens)
        t0 = time.monotonic()
        # Half-size chunks: a request that comes meanwhile waits at most half as long.
        if not self._eval_prompt(tokens, stats, cancel, max(8, self._eval_chunk // 2)):
            stats.stop_reason = StopReason.CANCELLED
        stats.prompt_eval_s = time.monotonic() - t0
        return stats

    def _prompt(
        self, request: GenerationRequest, stats: GenerationStats
    ) -> tuple[list[int], bytes]:
        """The tokens to evaluate and the text to heal (b"" when not healing)."""
        tokens = self.tokenize(request.prompt)
        stats.prompt_tokens = len(tokens)
        heal = b""
        if request.heal:
            tokens, heal = self._vocab.split_for_healing(tokens)
        if len(tokens) >= self._n_ctx:
            raise EngineError(
                f"the prompt has {len(tokens)} tokens but the context holds {self._n_ctx}.",
                "Lower completion.prefix_tokens / completion.suffix_tokens or raise engine.n_ctx.",
            )
        return tokens, heal

    def _eval_prompt(
        self, tokens: list[int], stats: GenerationStats, cancel: CancelToken, chunk_size: int = 0
    ) -> bool:
        """Reuse the cached prefix, evaluate the rest in cancellable chunks
        (``chunk_size`` tokens, default engine.eval_chunk); False when cancelled (what
        was evaluated stays cached)."""
        size = chunk_size or self._eval_chunk
        llm = self._llm
        # the last token is evaluated again, for fresh logits
        common = max(0, min(self._held(tokens), len(tokens) - 1))
        stats.reused_tokens = common
        llm.n_tokens = common
        pos = common
        while pos < len(tokens):
            if cancel.cancelled:
                return False
            chunk = tokens[pos : pos + size]
            llm.eval(chunk)
            pos += len(chunk)
            stats.evaluated_tokens = pos - common  # so far: a cancel keeps what is cached
        return True

    @staticmethod
    def _stop_reason(
        request: GenerationRequest,
        stats: GenerationStats,
        stop: StopWordMatcher,
        text: str,
        cancel: CancelToken,
        deadline: Deadline,
        max_tokens: int,
    ) -> StopReason | None:
        """Why generation ends after this token (None: it goes on)."""
        if stop.stopped:
            return StopReason.STOP_WORD
        if request.should_stop is not None and request.should_stop(text):
            return StopReason.CALLER
        if cancel.cancelled:
            return StopReason.CANCELLED
        if stats.generated_tokens >= max_tokens:
            if max_tokens == request.max_tokens:
                return StopReason.MAX_TOKENS
            return StopReason.CONTEXT_FULL
        if deadline.expired:
            return StopReason.TIME_BUDGET
        return None

    # -- token healing -------------------------------------------------------
    def _heal(
        self, tokens: list[int], remaining: bytes, stats: GenerationStats, cancel: CancelToken
    ) -> bytes | None:
        """Greedy constrained steps until the output covers ``remaining``
        (``Vocab.heal_step``). Returns the generated bytes beyond ``remaining``
        (None if cancelled)."""
        llm = self._llm
        while remaining:
            if cancel.cancelled:
                return None
            ptr = self._llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            logits = np.ctypeslib.as_array(ptr, shape=(self._vocab.n_vocab,))
            choice, extra, remaining = self._vocab.heal_step(logits, remaining)
            llm.eval([choice])
            tokens.append(choice)
            stats.generated_tokens += 1
            if not remaining:
                return extra
        return b""

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            llm.close()
            self._llm = None  # type: ignore[assignment]
