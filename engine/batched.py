"""A batched llama.cpp engine: several users share one model, decoded together.

One background thread owns a llama.cpp context with one KV sequence per *slot* (on
a CPU a separate KV stream of ``n_ctx`` tokens each; with GPU offload one shared
buffer of slots x ``n_ctx`` cells, each slot still held to ``n_ctx``) and runs a
loop in which every step is a single ``llama_decode`` of one batch holding

- the next token of every sequence that is generating, and
- a chunk of prompt tokens of sequences still evaluating their prompt (chunked
  prefill: the shortest remaining prompt first; while others generate, at most
  ``PREFILL_CHUNK`` prompt tokens a step on a CPU, so that a long prompt does not
  stall their token streams for long).

Why: generating one token reads all the weights for little arithmetic, so where
memory bandwidth is the limit (GPUs, CPUs with several cores) a step for four
sequences costs little more than a step for one. Where arithmetic is the limit it
does not: measured with the 0.5B default model on 2 cores, a 1-sequence step takes
~15.5 ms and a 4-sequence step ~53 ms, so four generations at once take ~3.4x one
(one after another: 4x), while prompt chunks of 64+ tokens run at ~3.2 ms a token.

Requests beyond the number of slots wait in a fair queue (engine.fairqueue,
``Policy.LEAST_RECENT``): the user served least recently goes first (round-robin
across ``user`` values), FIFO within a user. A
request that is cancelled or whose time budget ran out while queued is dropped
without running.

Each slot remembers the tokens in its KV sequence. A new request goes to the free
slot whose cached tokens share the longest prefix with its prompt (ties: the slot
this user had last, then the least recently used one), and only the tokens after
that prefix are evaluated. A slot whose generation ended or was cancelled is free
at once but keeps its KV as a cache (trimmed when the slot is reused): consecutive
prompts of a typing session share almost everything.

Differences from the serial engine (engine/llamacpp.py):
- ``time_budget_s`` counts from ``submit`` (queue wait and prompt evaluation
  included): a request whose budget runs out while queued ends unrun, one whose
  budget runs out while its prompt is evaluated ends at the next step (both
  TIME_BUDGET, no text; the prompt part evaluated stays cached for the next
  request). The serial engine evaluates the whole prompt and then gives the
  budget to generation.
- Greedy output equals the serial engine's for a request running alone, but not
  always when requests share steps: llama.cpp's CPU kernels round differently for
  different micro-batch shapes, which can flip a near tie.
- Token healing (``request.heal``) works as in the serial engine: the prompt's
  last token is dropped and regenerated greedily under the constraint that its
  text starts with that token's text.

The loop thread is the only user of the llama context; ``submit``, ``count_tokens``,
``stats`` and ``close`` can be called from any thread (tokenizing only reads the
vocabulary).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from engine.fairqueue import FairQueue, Policy
from engine.fim import FimTemplate
from engine.llama_model import (
    Utf8Decoder,
    Vocab,
    apply_lora,
    count_tokens,
    default_threads,
    detect_template,
    load_llama,
    tokenize,
)

log = logging.getLogger(__name__)

# Prompt tokens evaluated per step (CPU) while other sequences are generating. A
# step costs about the time of its prompt chunk, so this bounds the pause a long
# prompt causes in the others' token streams; on a CPU chunks of this size already
# run at full speed (2 cores: 3.2 ms a token at 64, 3.3 at 512 on the 2026-11-28 AMD
# machine; 5.7-5.8 ms at any size on the 2026-12 Xeon). With GPU offload
# the chunk is n_batch: big chunks are cheap there and much more efficient.
PREFILL_CHUNK = 64

# A free slot is chosen for its cached prefix only when it shares at least this
# many tokens with the prompt (or all of it); otherwise the least recently used.
MIN_REUSE = 16

# Top-k for sampling with temperature > 0 (as the serial engine).
SAMPLE_TOP_K = 40

_END = object()  # end-of-stream marker in a generation's piece queue

# The engine's counters (``stats()``).
COUNTERS = (
    "completed",
    "cancelled",  # cancelled while running
    "dropped",  # cancelled while queued: never ran
    "expired",  # out of time before generating anything
    "failed",
    "prompt_tokens_evaluated",
    "prompt_tokens_reused",
    "generated_tokens",
    "steps",
    "batch_tokens",  # tokens decoded, padding included
    "graph_reuses",  # steps that reused llama.cpp's previous compute graph
    "decode_ms",
)


def _check_sizes(slots: int, step_tokens: int, n_batch: int) -> None:
    if slots < 1:
        raise EngineError(f"slots must be at least 1 (got {slots}).")
    if step_tokens and not slots < step_tokens <= max(8, n_batch):
        raise EngineError(
            f"step_tokens must be more than the slots ({slots}) and at most the batch "
            f"size ({max(8, n_batch)}); got {step_tokens}."
        )


class Generation:
    """One submitted request: iterate it for its text pieces (blocks until done).

    ``stats`` is complete when iteration has ended; ``error`` is set (and raised
    from ``__iter__``) when the request failed. ``cancel()`` sets the request's
    cancel token.
    """

    def __init__(self, request: GenerationRequest, cancel: CancelToken, user: str = "") -> None:
        self.request = request
        self.cancel_token = cancel
        self.user = user
        self.stats = GenerationStats()
        self.error: EngineError | None = None
        self.submitted = time.monotonic()
        self.deadline = Deadline(request.time_budget_s)
        self.queued_s = 0.0  # time between submit and admission to a slot
        self.admission = 0  # 1 for the first request the engine admitted, 2 for the next...
        self.slot = -1  # the slot (KV sequence) it ran in; -1 if it never ran
        self._pieces: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._done = threading.Event()
        # Set by submit: the prompt tokens to evaluate, and the healed token's text.
        self._tokens: list[int] = []
        self._heal = b""

    def __iter__(self) -> Iterator[str]:
        while True:
            item = self._pieces.get()
            if item is _END:
                self._pieces.put(_END)  # a second iteration ends at once
                break
            yield item
        if self.error is not None:
            raise self.error

    def text(self) -> str:
        """Wait for the end and return the whole text (raises ``error``)."""
        return "".join(self)

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the generation ended; True if it did within ``timeout``."""
        return self._done.wait(timeout)

    # -- called by the engine -------------------------------------------------
    def _put(self, piece: str) -> None:
        if piece:
            self._pieces.put(piece)

    def _end(self, reason: StopReason | None, error: EngineError | None = None) -> None:
        if self._done.is_set():
            return
        self.stats.stop_reason = reason
        self.error = error
        self._done.set()
        self._pieces.put(_END)


@dataclass(eq=False)
class _Slot:
    id: int  # the llama.cpp sequence id
    cached: list[int] = field(default_factory=list)  # tokens whose KV the sequence holds
    user: str = ""  # who used it last
    used: int = 0  # when it was last assigned (admission count)
    seq: _Seq | None = None  # the running sequence


@dataclass(eq=False)
class _Seq:
    """A generation running in a slot (owned by the loop thread)."""

    gen: Generation
    slot: _Slot
    tokens: list[int]  # the prompt
    max_tokens: int
    heal: bytes
    started: float
    matcher: StopWordMatcher
    decoder: Utf8Decoder = field(default_factory=Utf8Decoder)
    text: str = ""
    next_token: int | None = None  # sampled, to be decoded in the next step
    out: int = -1  # index of its logits in the current batch, -1 if none
    generating_since: float = 0.0

    @property
    def prefilling(self) -> bool:
        return len(self.slot.cached) < len(self.tokens)


class BatchedEngine:
    """Serves several generations at once from one model (see the module docstring)."""

    kind = "llamacpp-batched"

    def __init__(
        self,
        model_path: str | Path,
        *,
        slots: int = 4,
        n_ctx: int = 4096,
        n_threads: int = 0,
        n_batch: int = 512,
        n_gpu_layers: int = 0,
        kv_unified: bool | None = None,
        step_tokens: int = 0,
        weights: str = "original",
        lora_path: str | Path | None = None,
    ) -> None:
        _check_sizes(slots, step_tokens, n_batch)
        path = Path(model_path).expanduser()
        self.model_path = path
        self.lora_path = Path(lora_path).expanduser() if lora_path else None
        self._weights = weights  # how the file's weights are laid out (engine.relayout)
        threads = n_threads or default_threads()
        self._n_threads = threads
        self._n_gpu_layers = n_gpu_layers
        self._n_batch = max(8, n_batch)
        # Offloaded to a GPU, big prompt chunks are cheap and much more efficient.
        self._prefill_chunk = self._n_batch if n_gpu_layers else min(PREFILL_CHUNK, self._n_batch)
        # Experimental (GPU): every step decodes exactly step_tokens tokens with one
        # output per slot (idle slots and spare room padded), so llama.cpp can reuse
        # its graph, and CUDA its captured graph, from one step to the next.
        self._step_tokens = step_tokens
        started = time.monotonic()
        # The Llama object loads the model and tokenizes; its own context is left
        # small and unused: the loop decodes in a context made below.
        self._lc, self._llm = load_llama(
            path,
            self.lora_path,
            n_ctx=256,
            n_batch=32,
            n_ubatch=32,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=n_gpu_layers,
        )
        self._ctx = self._make_context(n_ctx, slots, kv_unified)
        self._mem = self._lc.llama_get_memory(self._ctx)
        # Shared buffer: each slot still gets at most n_ctx of the slots x n_ctx cells.
        self._n_ctx = n_ctx if self._kv_unified else int(self._lc.llama_n_ctx_seq(self._ctx))
        self._n_slots = int(self._lc.llama_n_seq_max(self._ctx))
        self._batch = self._lc.llama_batch_init(self._n_batch, 0, 1)
        self._batch_freed = False
        self.load_s = time.monotonic() - started

        self._vocab = Vocab(self._lc, self._llm)
        self.metadata: dict[str, str] = dict(self._llm.metadata)
        self.fim_template: FimTemplate | None = self.detect_template()
        self._model_lock = threading.Lock()
        self._model_freed = False
        self._rng = np.random.default_rng()

        self._slots = [_Slot(i) for i in range(self._n_slots)]
        self._active: list[_Seq] = []
        self._queue: FairQueue[Generation] = FairQueue(Policy.LEAST_RECENT)
        self._cond = threading.Condition()
        self._closing = False
        self._admissions = 0
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._thread = threading.Thread(target=self._run, name="batched-engine", daemon=True)
        self._thread.start()

    def _make_context(self, n_ctx: int, slots: int, kv_unified: bool | None):
        """The llama.cpp context the loop decodes in: one KV sequence of ``n_ctx`` per
        slot (sets ``_kv_unified``); the model is closed when it cannot be made."""
        llama_cpp = self._lc
        params = llama_cpp.llama_context_params.from_buffer_copy(self._llm.context_params)
        # A fixed-shape step adds up to step_tokens padding cells for its duration.
        params.n_ctx = n_ctx * slots + self._step_tokens
        params.n_seq_max = slots
        # None: one shared KV buffer when layers run on a GPU (one attention over
        # every sequence of a step: 1.7x the requests/s of separate streams at 16
        # clients on an H200, bench/RESULTS.md), separate streams on a CPU (each
        # sequence attends over its own cells only, not over all slots' cells).
        if kv_unified is None:
            kv_unified = bool(self._n_gpu_layers) and bool(llama_cpp.llama_supports_gpu_offload())
        self._kv_unified = kv_unified
        if self._step_tokens and not kv_unified:
            self._llm.close()
            raise EngineError(
                "step_tokens needs the shared KV buffer (kv_unified) that GPU offload uses.",
                "Offload layers to a GPU (engine.n_gpu_layers on a GPU build of "
                "llama-cpp-python), or leave step_tokens at 0.",
            )
        params.kv_unified = kv_unified
        # llama.cpp's own default (what llama-server runs): flash attention where the
        # backend has it. llama-cpp-python's Llama turns it off; over 16 KV streams on
        # a CPU it saved ~9% of a single client's time (bench/RESULTS.md).
        params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
        params.n_batch = self._n_batch
        params.n_ubatch = self._n_batch
        params.n_threads = self._n_threads
        params.n_threads_batch = self._n_threads
        ctx = llama_cpp.llama_init_from_model(self._llm._model.model, params)
        if not ctx:
            self._llm.close()
            raise EngineError(
                f"llama.cpp could not create a context of {slots} x {n_ctx} tokens "
                f"for {self.model_path.name}.",
                "Lower engine.n_ctx or the number of slots (the KV cache may not fit in memory).",
            )
        try:
            apply_lora(llama_cpp, self._llm, ctx)
        except EngineError:
            llama_cpp.llama_free(ctx)
            self._llm.close()
            raise
        return ctx

    # -- information -----------------------------------------------------------
    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind,
            model=self.metadata.get("general.name", self.model_path.name),
            n_ctx=self._n_ctx,
            details={
                "path": str(self.model_path),
                "lora_path": str(self.lora_path or ""),
                "architecture": self.metadata.get("general.architecture", ""),
                "slots": str(self._n_slots),
                "n_ctx_per_slot": str(self._n_ctx),
                "n_batch": str(self._n_batch),
                "n_threads": str(self._n_threads),
                "n_gpu_layers": str(self._n_gpu_layers),
                "gpu_offload": str(bool(self._lc.llama_supports_gpu_offload())),
                "kv_unified": str(self._kv_unified),
                "step_tokens": str(self._step_tokens),
                "weights": self._weights,
                "load_s": f"{self.load_s:.2f}",
            },
        )

    def detect_template(self) -> FimTemplate | None:
        return detect_template(self._llm, self.metadata, self.model_path)

    def stats(self) -> dict[str, int]:
        with self._cond:
            out = dict(self._counters)
            out["active"] = len(self._active)
            out["queued"] = len(self._queue)
            out["slots"] = self._n_slots
        return out

    # -- tokens ----------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        with self._open_model():
            return tokenize(self._llm, text)

    def count_tokens(self, text: str) -> int:
        with self._open_model():
            return count_tokens(self._llm, text)

    @contextlib.contextmanager
    def _open_model(self) -> Iterator[None]:
        """Tokenizing only reads the vocabulary, but it must not race with close()."""
        with self._model_lock:
            if self._model_freed:
                raise EngineError("the engine is closed.")
            yield

    # -- requests --------------------------------------------------------------
    def submit(
        self, request: GenerationRequest, cancel: CancelToken, *, user: str = ""
    ) -> Generation:
        gen = Generation(request, cancel, user)
        if self._closing:  # the model may be gone: do not even tokenize
            self._fail_unrun(gen, EngineError("the engine is closed."))
            return gen
        try:
            self._prepare(gen)
        except EngineError as exc:
            self._fail_unrun(gen, exc)
            return gen
        except Exception as exc:  # tokenizer trouble: fail this request only
            log.exception("could not prepare a generation")
            self._fail_unrun(gen, EngineError(f"the prompt could not be tokenized: {exc}"))
            return gen
        with self._cond:
            if self._closing:
                closed = True
            else:
                closed = False
                self._queue.put(gen.user, gen)
                self._cond.notify_all()
        if closed:
            self._fail_unrun(gen, EngineError("the engine is closed."))
        return gen

    def _prepare(self, gen: Generation) -> None:
        request = gen.request
        tokens = self.tokenize(request.prompt)
        gen.stats.prompt_tokens = len(tokens)
        if not tokens:
            raise EngineError("the prompt is empty.")
        heal = b""
        if request.heal:
            with self._open_model():  # builds the healing tables on first use
                tokens, heal = self._vocab.split_for_healing(tokens)
        if len(tokens) >= self._n_ctx:
            raise EngineError(
                f"the prompt has {len(tokens)} tokens but the context holds {self._n_ctx}.",
                "Lower completion.prefix_tokens / completion.suffix_tokens or raise engine.n_ctx.",
            )
        gen._tokens = tokens
        gen._heal = heal

    def _fail_unrun(self, gen: Generation, error: EngineError) -> None:
        with self._cond:
            self._counters["failed"] += 1
        gen._end(None, error)

    # -- the loop --------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                with self._cond:
                    if self._closing:
                        break
                    self._drop_dead_queued()
                    admitted = self._admit()
                    if not self._active:
                        self._cond.wait()
                        continue
                for seq in admitted:
                    self._start(seq)
                self._step()
            except Exception as exc:
                log.exception("batched decoding failed")
                self._fail_active(exc)
        self._shutdown()

    def _drop_dead_queued(self) -> None:
        """Under the lock: end queued generations that were cancelled or ran out of time."""
        dead = self._queue.remove_if(lambda g: g.cancel_token.cancelled or g.deadline.expired)
        for gen in dead:
            self._end_unrun(gen)

    def _end_unrun(self, gen: Generation) -> None:
        gen.queued_s = time.monotonic() - gen.submitted
        if gen.cancel_token.cancelled:
            self._counters["dropped"] += 1
            gen._end(StopReason.CANCELLED)
        else:
            self._counters["expired"] += 1
            gen._end(StopReason.TIME_BUDGET)

    def _admit(self) -> list[_Seq]:
        """Under the lock: move queued generations into free slots."""
        admitted: list[_Seq] = []
        free = [s for s in self._slots if s.seq is None]
        while free and len(self._queue):
            gen = self._queue.pop()
            if gen is None:
                break
            if gen.cancel_token.cancelled or gen.deadline.expired:
                self._end_unrun(gen)
                continue
            tokens = gen._tokens
            slot = max(free, key=lambda s: self._slot_score(s, tokens, gen.user))
            free.remove(slot)
            self._admissions += 1
            gen.admission = self._admissions
            gen.slot = slot.id
            gen.queued_s = time.monotonic() - gen.submitted
            seq = _Seq(
                gen=gen,
                slot=slot,
                tokens=tokens,
                max_tokens=min(gen.request.max_tokens, self._n_ctx - len(tokens)),
                heal=gen._heal,
                started=time.monotonic(),
                matcher=StopWordMatcher(gen.request.stop),
            )
            slot.seq = seq
            slot.user = gen.user
            slot.used = self._admissions
            self._active.append(seq)
            admitted.append(seq)
        return admitted

    @staticmethod
    def _slot_score(slot: _Slot, tokens: list[int], user: str) -> tuple[int, bool, int]:
        """Higher is better: reusable prefix, then the user's own slot, then the LRU one.

        A short common prefix (the FIM marker, a license header) is not worth taking a
        slot whose cache another prompt may want back, unless it is the whole prompt.
        """
        common = min(common_prefix(slot.cached, tokens), len(tokens) - 1)
        if common < MIN_REUSE and common < len(tokens) - 1:
            common = 0
        return common, slot.user == user, -slot.used

    def _start(self, seq: _Seq) -> None:
        """Keep the slot's KV for the common prefix, drop the rest."""
        slot = seq.slot
        common = min(common_prefix(slot.cached, seq.tokens), len(seq.tokens) - 1)
        if common < len(slot.cached):
            if not self._lc.llama_memory_seq_rm(self._mem, slot.id, common, -1):
                self._lc.llama_memory_seq_rm(self._mem, slot.id, -1, -1)
                common = 0
            del slot.cached[common:]
        st = seq.gen.stats
        st.reused_tokens = common
        st.evaluated_tokens = len(seq.tokens) - common
        with self._cond:
            self._counters["prompt_tokens_reused"] += common
            self._counters["prompt_tokens_evaluated"] += st.evaluated_tokens

    def _step(self) -> None:
        lc = self._lc
        # 1. Sequences cancelled or out of time since the last step end now (their
        #    slot is free; what their prompt got evaluated stays cached).
        for seq in list(self._active):
            if seq.gen.cancel_token.cancelled:
                self._finish(seq, StopReason.CANCELLED)
            elif seq.gen.deadline.expired:
                self._finish(seq, StopReason.TIME_BUDGET)
        if not self._active:
            return
        # 2. One batch: every generating sequence's next token, then prompt chunks
        #    (the shortest remaining prompt first).
        prefill = sorted(
            (s for s in self._active if s.prefilling),
            key=lambda s: len(s.tokens) - len(s.slot.cached),
        )
        if self._step_tokens:
            work, pads = self._fixed_shape(prefill)
        else:
            work, pads = self._plain_batch(prefill), []
        if not work:
            return
        started = time.perf_counter()
        rc = lc.llama_decode(self._ctx, self._batch)
        elapsed_ms = int((time.perf_counter() - started) * 1000)
        for slot_id, first in pads:  # padding leaves nothing behind
            lc.llama_memory_seq_rm(self._mem, slot_id, first, -1)
        reuses = int(lc.llama_perf_context(self._ctx).n_reused)
        with self._cond:
            self._counters["steps"] += 1
            self._counters["graph_reuses"] = reuses
            self._counters["batch_tokens"] += self._batch.n_tokens
            self._counters["decode_ms"] += elapsed_ms
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")
        # 3. The KV now holds the batch's tokens.
        for seq, tokens, _ in work:
            seq.slot.cached.extend(tokens)
            seq.next_token = None
        # 4. Sample and hand out the next token of every sequence with logits.
        now = time.monotonic()
        for seq, _, _ in work:
            if seq.out < 0:
                continue
            idx, seq.out = seq.out, -1
            if seq.gen.stats.generated_tokens == 0 and not seq.generating_since:
                seq.generating_since = now
                seq.gen.stats.prompt_eval_s = now - seq.started
            try:
                self._advance(seq, idx)
            except Exception as exc:  # e.g. the caller's should_stop raised
                log.exception("generation failed")
                self._finish(seq, None, EngineError(f"generation failed: {exc}"))

    def _plain_batch(self, prefill: list[_Seq]) -> list[tuple[_Seq, list[int], bool]]:
        """Fill the batch with every generating sequence's next token, then prompt
        chunks (on a CPU at most ``PREFILL_CHUNK`` tokens while others generate).
        Returns (sequence, tokens, logits at the end) for each."""
        work: list[tuple[_Seq, list[int], bool]] = []
        generating = [s for s in self._active if s.next_token is not None]
        for seq in generating:
            work.append((seq, [seq.next_token], True))  # type: ignore[list-item]
        budget = self._n_batch - len(generating)
        if generating:
            budget = min(budget, self._prefill_chunk)
        for seq in prefill:
            if budget <= 0:
                break
            start = len(seq.slot.cached)
            chunk = seq.tokens[start : start + budget]
            work.append((seq, chunk, start + len(chunk) == len(seq.tokens)))
            budget -= len(chunk)
        # With one KV stream per slot llama.cpp puts sequences in one micro-batch only
        # when their ids are consecutive in batch order: order the batch by slot.
        work.sort(key=lambda w: w[0].slot.id)
        n = 0
        for seq, tokens, logits in work:
            pos = len(seq.slot.cached)
            for i, tok in enumerate(tokens):
                self._add(n, tok, pos + i, seq.slot.id, logits and i == len(tokens) - 1)
                n += 1
            seq.out = n - 1 if logits else -1
        self._batch.n_tokens = n
        return work

    def _fixed_shape(
        self, prefill: list[_Seq]
    ) -> tuple[list[tuple[_Seq, list[int], bool]], list[tuple[int, int]]]:
        """Fill the batch with exactly ``step_tokens`` tokens and one output per slot:
        each slot's entry is its sequence's next token, or a chunk of its prompt, or
        (idle slot) one padding token after its cache; the room left goes to prompt
        chunks, then to padding after the last entry. Returns the real work (as
        ``_plain_batch`` gives it) and the padding to remove: (slot id, first position)."""
        total = self._step_tokens
        room = total - self._n_slots  # tokens beyond one per slot
        chunks: dict[int, list[int]] = {}
        for seq in prefill:  # shortest remaining prompt first, as _step sorted them
            start = len(seq.slot.cached)
            take = 1 + max(0, min(room, len(seq.tokens) - start - 1))
            chunks[seq.slot.id] = seq.tokens[start : start + take]
            room -= take - 1
        work: list[tuple[_Seq, list[int], bool]] = []
        pads: list[tuple[int, int]] = []
        n = 0
        for slot in self._slots:
            seq = slot.seq
            pos = len(slot.cached)
            if seq is not None and seq.next_token is not None:
                tokens, finishing = [seq.next_token], True
            elif seq is not None and slot.id in chunks:
                tokens = chunks[slot.id]
                finishing = pos + len(tokens) == len(seq.tokens)
            else:  # idle (or admitted after this step's plan): one padding token
                seq = None
                tokens, finishing = [slot.cached[-1] if slot.cached else 0], False
                pads.append((slot.id, pos))
            for i, tok in enumerate(tokens):
                self._add(n, tok, pos + i, slot.id, i == len(tokens) - 1)  # one output each
                n += 1
            if seq is not None:
                work.append((seq, tokens, finishing))
                seq.out = n - 1 if finishing else -1
            last_slot, last_pos = slot.id, pos + len(tokens)
        if room > 0:  # spare room: padding after the last slot's entry
            for i in range(room):
                self._add(n, 0, last_pos + i, last_slot, False)
                n += 1
            if not pads or pads[-1][0] != last_slot:
                pads.append((last_slot, last_pos))
        self._batch.n_tokens = n
        return work, pads

    def _add(self, i: int, token: int, pos: int, seq_id: int, logits: bool) -> None:
        b = self._batch
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq_id
        b.logits[i] = 1 if logits else 0

    def _advance(self, seq: _Seq, idx: int) -> None:
        lc = self._lc
        gen = seq.gen
        st = gen.stats
        logits = np.ctypeslib.as_array(
            lc.llama_get_logits_ith(self._ctx, idx), shape=(self._vocab.n_vocab,)
        )
        if seq.heal:
            token, data, seq.heal = self._vocab.heal_step(logits, seq.heal)
            st.generated_tokens += 1
        else:
            token = self._sample(logits, gen.request.temperature)
            if self._vocab.is_eog(token):
                self._finish(seq, StopReason.END_OF_TEXT)
                return
            st.generated_tokens += 1
            data = self._vocab.piece(token)
        with self._cond:
            self._counters["generated_tokens"] += 1
        piece_text = seq.matcher.feed(seq.decoder.feed(data)) if data else ""
        if piece_text:
            seq.text += piece_text
            gen._put(piece_text)
        request = gen.request
        if seq.matcher.stopped:
            self._finish(seq, StopReason.STOP_WORD)
        elif not seq.heal and request.should_stop is not None and request.should_stop(seq.text):
            self._finish(seq, StopReason.CALLER)
        elif gen.cancel_token.cancelled:
            self._finish(seq, StopReason.CANCELLED)
        elif st.generated_tokens >= seq.max_tokens:
            full = seq.max_tokens < request.max_tokens
            self._finish(seq, StopReason.CONTEXT_FULL if full else StopReason.MAX_TOKENS)
        elif gen.deadline.expired:
            self._finish(seq, StopReason.TIME_BUDGET)
        else:
            seq.next_token = token

    def _sample(self, logits: np.ndarray, temperature: float) -> int:
        if temperature <= 0:
            return int(np.argmax(logits))
        k = min(SAMPLE_TOP_K, logits.shape[0])
        top = np.argpartition(logits, -k)[-k:]
        scaled = logits[top].astype(np.float64) / temperature
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        return int(top[self._rng.choice(k, p=probs)])

    def _finish(
        self, seq: _Seq, reason: StopReason | None, error: EngineError | None = None
    ) -> None:
        """End a running sequence and free its slot (its KV stays as a prefix cache)."""
        gen = seq.gen
        if error is None and reason not in (StopReason.STOP_WORD, StopReason.CANCELLED):
            gen._put(seq.matcher.feed(seq.decoder.flush()) + seq.matcher.flush())
        now = time.monotonic()
        unevaluated = 0
        if seq.generating_since:
            gen.stats.generation_s = now - seq.generating_since
        else:
            gen.stats.prompt_eval_s = now - seq.started
            # A prompt cut short (cancel, failure): only what was evaluated counts.
            done = max(0, min(len(seq.slot.cached), len(seq.tokens)) - gen.stats.reused_tokens)
            unevaluated = gen.stats.evaluated_tokens - done
            gen.stats.evaluated_tokens = done
        with self._cond:
            self._counters["prompt_tokens_evaluated"] -= unevaluated
            if seq in self._active:
                self._active.remove(seq)
            seq.slot.seq = None
            if error is not None:
                self._counters["failed"] += 1
            elif reason is StopReason.CANCELLED:
                self._counters["cancelled"] += 1
            elif reason is StopReason.TIME_BUDGET and not gen.stats.generated_tokens:
                self._counters["expired"] += 1
            else:
                self._counters["completed"] += 1
        gen._end(reason, error)

    def _fail_active(self, exc: Exception) -> None:
        """After a failed step: fail the running generations, reset their slots' KV."""
        error = EngineError(
            f"generation failed in llama.cpp: {exc}.",
            "Retry the request; if it keeps failing, lower engine.n_batch or the slots.",
        )
        for seq in list(self._active):
            try:
                self._lc.llama_memory_seq_rm(self._mem, seq.slot.id, -1, -1)
            except Exception:  # pragma: no cover - best effort
                log.exception("could not clear slot %d", seq.slot.id)
            seq.slot.cached.clear()
            seq.next_token = None
            self._finish(seq, None, error)

    def _shutdown(self) -> None:
        with self._cond:
            pending = self._queue.drain()
        for gen in pending:
            gen.queued_s = time.monotonic() - gen.submitted
            with self._cond:
                self._counters["dropped"] += 1
            gen._end(StopReason.CANCELLED)
        for seq in list(self._active):
            self._finish(seq, StopReason.CANCELLED)
        self._free()

    def _free(self) -> None:
        lc = self._lc
        if not self._batch_freed:
            self._batch_freed = True
            lc.llama_batch_free(self._batch)
        if self._ctx is not None:
            lc.llama_free(self._ctx)
            self._ctx = None
        with self._model_lock:
            self._model_freed = True
            self._llm.close()

    # -- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Stop the loop; queued and running generations end CANCELLED."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> BatchedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
