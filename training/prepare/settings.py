"""What ``train prepare`` does, as one typed record with defaults and checks."""

from __future__ import annotations

from dataclasses import dataclass

from languages import BY_ID, REGISTRY
from training.errors import TrainingError

#: The languages selected when none are named: every code language the product knows.
CODE_LANGUAGES: tuple[str, ...] = tuple(lang.id for lang in REGISTRY if lang.code)


@dataclass(frozen=True)
class PrepareSettings:
    languages: tuple[str, ...] = CODE_LANGUAGES
    include: tuple[str, ...] = ()  # globs on the path in the repository; empty: all
    exclude: tuple[str, ...] = ()
    max_bytes: int = 1_000_000  # larger files are left out ("too large")
    max_line_length: int = 1_000  # a longer line: minified or data ("minified")
    max_mean_line_length: int = 150
    heldout_fraction: float = 0.1  # files held out for evaluation, by file
    seed: int = 0
    near_threshold: float = 0.7  # MinHash Jaccard above which files are near-duplicates
    decontaminate_threshold: float = 0.5  # training files this close to a held-out one go
    num_perm: int = 256
    shingle: int = 5  # words per shingle

    def __post_init__(self) -> None:
        unknown = [lang for lang in self.languages if lang not in BY_ID]
        if unknown:
            raise TrainingError(
                f"unknown language(s) {', '.join(unknown)}; known: {', '.join(CODE_LANGUAGES)}"
            )
        if not self.languages:
            raise TrainingError("no languages selected")
        if self.max_bytes <= 0 or self.max_line_length <= 0 or self.max_mean_line_length <= 0:
            raise TrainingError("size limits must be positive")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise TrainingError(
                f"held-out fraction must be between 0 and 1 (got {self.heldout_fraction})"
            )
        for name in ("near_threshold", "decontaminate_threshold"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise TrainingError(f"{name.replace('_', ' ')} must be in (0, 1] (got {value})")
        if self.num_perm < 16 or self.shingle < 1:
            raise TrainingError("MinHash needs at least 16 permutations and 1-word shingles")
