"""The fill-in-the-middle transform applied to training documents.

A document becomes, with probability ``rate``, a FIM example: two cut points drawn
uniformly over its characters split it into prefix / middle / suffix, laid out in the
base model's own template (engine.fim), prefix-suffix-middle or, with probability
``spm_rate``, suffix-prefix-middle; otherwise it stays plain left-to-right text. The
end-of-text token follows either way, so the model learns where a middle ends.

The result is a list of segments, each marked as the model's special tokens or as
document text: text is tokenized as plain text, so a file that spells out a marker
(``"<|fim_middle|>"`` in a string) never turns into the special token.
"""

from __future__ import annotations

import random
from collections.abc import Container
from dataclasses import dataclass

from engine.fim import FimTemplate, detect
from training.errors import TrainingError


@dataclass(frozen=True)
class FimSettings:
    rate: float = 0.5  # share of documents turned into FIM examples
    spm_rate: float = 0.5  # of those, the share in suffix-prefix-middle order

    def __post_init__(self) -> None:
        for name in ("rate", "spm_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise TrainingError(f"FIM {name.replace('_', ' ')} must be in [0, 1] (got {value})")


def template_for(vocabulary: Container[str], model: str) -> FimTemplate:
    """The base model's FIM template, from its vocabulary alone: training needs the
    markers to be real tokens of the model, not text that only looks like them."""
    template = detect(vocabulary)
    if template is None or not all(m in vocabulary for m in template.markers):
        raise TrainingError(
            f"{model} has no fill-in-the-middle tokens in its vocabulary, so it cannot "
            "learn to complete between a prefix and a suffix; choose a code model with "
            "FIM training (Qwen2.5-Coder, StarCoder2, CodeLlama, DeepSeek-Coder, CodeGemma)"
        )
    return template


Segment = tuple[str, bool]  # (text, True when it is the model's special tokens)


def transform(
    text: str, template: FimTemplate, rng: random.Random, settings: FimSettings, eos: str
) -> list[Segment]:
    """One training document: FIM or plain (see the module docstring), then ``eos``."""
    if rng.random() >= settings.rate:
        return [(text, False), (eos, True)]
    a, b = sorted((rng.randint(0, len(text)), rng.randint(0, len(text))))
    pre = [(template.prefix, True), (text[:a], False)]
    suf = [(template.suffix, True), (text[b:], False)]
    ordered = suf + pre if rng.random() < settings.spm_rate else pre + suf
    return [*ordered, (template.middle, True), (text[a:b], False), (eos, True)]
