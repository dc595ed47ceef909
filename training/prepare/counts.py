"""What every step of ``train prepare`` did: the numbers the data card reports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Counts:
    seen: Counter[str] = field(default_factory=Counter)  # files found, by source
    left_out: Counter[str] = field(default_factory=Counter)  # by reason
    selected: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    deidentified: Counter[str] = field(default_factory=Counter)  # replacements by kind
    deidentified_by_file: dict[str, dict[str, int]] = field(default_factory=dict)
    decontaminated: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # printed, not in the card
