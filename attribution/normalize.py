"""Normalization: the text fingerprints are taken of, mapped back to the source.

Two modes:
- ``whitespace`` (default): every whitespace character is dropped, so re-indenting,
  re-wrapping and blank lines do not hide a copy;
- ``identifiers``: as above, and every identifier that is not a keyword becomes one
  placeholder character, so renaming variables does not hide a copy either.

``Normalized.starts[i]``/``ends[i]`` give the source span that normalized character
``i`` stands for, so a match found in normalized text is reported in source offsets.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

Mode = Literal["whitespace", "identifiers"]
MODES: tuple[Mode, ...] = ("whitespace", "identifiers")
PLACEHOLDER = "\x00"  # stands for one identifier; never in source text we index

# Keywords of the common languages: kept in identifier mode (they carry structure).
_OTHER_KEYWORDS = """
    abstract auto bool boolean break byte case catch char class const continue default
    defer delete do double else enum export extends extern false final finally float fn
    for func function go goto if impl implements import in instanceof int interface let
    long loop match mod module mut namespace new nil null package private protected pub
    public return self short signed sizeof static struct super switch synchronized this
    throw throws trait true try type typedef typeof union unsafe unsigned use var void
    volatile where while yield async await
"""
KEYWORDS = frozenset(keyword.kwlist) | frozenset(_OTHER_KEYWORDS.split())

_SPACE_CODES = np.array([c for c in range(0x3001) if chr(c).isspace()], dtype=np.uint32)
_TOKEN = re.compile(r"([^\W\d]\w*)|(\S)")


@dataclass(frozen=True)
class Normalized:
    text: str
    starts: np.ndarray  # int64, source offset where normalized char i begins
    ends: np.ndarray  # int64, source offset just after it

    def __len__(self) -> int:
        return len(self.text)

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source span of normalized characters ``start:end`` (end exclusive)."""
        if not 0 <= start < end <= len(self.text):
            raise IndexError(f"normalized span {start}:{end} outside 0:{len(self.text)}")
        return int(self.starts[start]), int(self.ends[end - 1])


def normalize(source: str, mode: Mode = "whitespace") -> Normalized:
    if mode == "whitespace":
        return _without_whitespace(source)
    if mode == "identifiers":
        return _without_identifiers(source)
    raise ValueError(f"unknown normalization mode {mode!r}; one of {', '.join(MODES)}")


def _without_whitespace(source: str) -> Normalized:
    codes = np.frombuffer(source.encode("utf-32-le"), dtype=np.uint32)
    starts = np.flatnonzero(~np.isin(codes, _SPACE_CODES)).astype(np.int64)
    # str.split() drops exactly the str.isspace() characters, like the mask above
    return Normalized("".join(source.split()), starts, starts + 1)


def _without_identifiers(source: str) -> Normalized:
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _TOKEN.finditer(source):
        word = m.group(1)
        if word is not None and word not in KEYWORDS:
            chars.append(PLACEHOLDER)
            starts.append(m.start())
            ends.append(m.end())
        else:
            piece = m.group(0)
            chars.append(piece)
            starts.extend(range(m.start(), m.end()))
            ends.extend(range(m.start() + 1, m.end() + 1))
    return Normalized(
        "".join(chars), np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    )
