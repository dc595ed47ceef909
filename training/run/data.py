"""Training sequences: documents transformed (``fim``), tokenized (``tokenize(text,
special)``: special=True only for the model's markers), joined and cut into
sequences of ``length`` tokens (packing, as code models are pretrained: no padding,
a document may span two sequences). The order of documents is shuffled by the seed
and the epoch, so the same seed gives the same sequences."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

from engine.fim import FimTemplate
from training.run.fim import FimSettings, transform


def sequences(
    documents: Sequence[str],
    tokenize: Callable[[str, bool], list[int]],
    template: FimTemplate,
    eos: str,
    *,
    length: int,
    seed: int,
    epoch: int = 0,
    fim: FimSettings | None = None,
) -> Iterator[list[int]]:
    """The epoch's sequences of exactly ``length`` tokens (the remainder is dropped)."""
    fim = fim or FimSettings()
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(documents)))
    rng.shuffle(order)
    buffer: list[int] = []
    for i in order:
        for text, special in transform(documents[i], template, rng, fim, eos):
            buffer.extend(tokenize(text, special))
        while len(buffer) >= length:
            yield buffer[:length]
            del buffer[:length]
