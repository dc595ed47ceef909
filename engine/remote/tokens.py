"""Counting tokens for a remote model, to cut the context to its budget.

In order of preference: the model's own ``tokenizer.json`` (the ``tokenizers``
package), the vocabulary of a GGUF file (llama.cpp loads only the vocabulary), or
an estimate from the length of the text when neither is configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from engine.base import EngineError

# Code averages about 3.5 characters per token with current code-model vocabularies;
# a lower figure over-counts, which keeps a prompt inside the budget.
CHARS_PER_TOKEN = 3.0

Counter = Callable[[str], int]


def estimate(text: str) -> int:
    return int(len(text) / CHARS_PER_TOKEN + 0.999)


def counter(path: str) -> tuple[Counter, str]:
    """The token counter for ``path`` ("" = estimate) and a word on what it is."""
    if not path:
        return estimate, f"estimate ({CHARS_PER_TOKEN:g} characters per token)"
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise EngineError(
            f"engine.tokenizer {path!r} does not exist.",
            "Point it at the model's tokenizer.json or a GGUF file of the same model, "
            "or leave it empty to estimate token counts.",
        )
    if path.endswith(".gguf"):
        return _gguf(path), f"GGUF vocabulary {os.path.basename(path)}"
    return _tokenizer_json(path), f"tokenizer {os.path.basename(path)}"


def _tokenizer_json(path: str) -> Counter:
    try:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(path)
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EngineError(
            "engine.tokenizer needs the tokenizers package.", "pip install tokenizers"
        ) from exc
    except Exception as exc:
        raise EngineError(
            f"engine.tokenizer {path!r} is not a tokenizer.json file the tokenizers "
            f"package can read ({exc}).",
            "Use the tokenizer.json published with the model, or a GGUF file of it.",
        ) from exc

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def _gguf(path: str) -> Counter:
    try:
        from llama_cpp import Llama

        vocab = Llama(model_path=path, vocab_only=True, verbose=False)
    except Exception as exc:
        raise EngineError(
            f"engine.tokenizer {path!r} could not be read as a GGUF vocabulary ({exc}).",
            "Use a GGUF file of the endpoint's model, or its tokenizer.json.",
        ) from exc

    def count(text: str) -> int:
        return len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    return count
