"""Normalization and winnowed fingerprints: the stated guarantee, checked on real
source and by property-based testing."""

from __future__ import annotations

import inspect
import json.decoder
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from attribution.fingerprint import (
    K,
    W,
    _sliding_argmin,
    fingerprints,
    guarantee,
    kgram_hashes,
    winnow,
)
from attribution.normalize import PLACEHOLDER, normalize

SOURCE = inspect.getsource(textwrap)
OTHER = inspect.getsource(json.decoder)


# -- normalization -------------------------------------------------------------------
def test_whitespace_mode_ignores_indentation_and_blank_lines():
    code = inspect.getsource(textwrap.dedent)
    reindented = "\n\n".join("  " + line.replace("    ", "\t") for line in code.splitlines())
    assert normalize(code).text == normalize(reindented).text
    assert normalize(code).text != normalize(code.replace("lines", "rows")).text


def test_whitespace_mode_maps_back_to_the_source():
    n = normalize(SOURCE)
    assert len(n) == sum(not c.isspace() for c in SOURCE)
    assert all(SOURCE[i] == c for i, c in zip(n.starts, n.text, strict=True))
    start, end = n.source_span(10, 60)
    assert "".join(SOURCE[start:end].split()) == n.text[10:60]
    with pytest.raises(IndexError):
        n.source_span(5, len(n) + 1)


def test_unicode_whitespace_and_non_ascii_text():
    n = normalize("x\u00a0=\u3000'中文😀'\r\n\ty")
    assert n.text == "x='中文😀'y"
    assert [int(i) for i in n.starts] == [0, 2, 4, 5, 6, 7, 8, 12]


def test_identifier_mode_ignores_renaming_but_not_keywords_or_structure():
    code = "def area(radius):\n    return math.pi * radius ** 2\n"
    renamed = "def surface(r):\n  return m.pi * r ** 2\n"
    a, b = normalize(code, "identifiers"), normalize(renamed, "identifiers")
    assert a.text == b.text
    assert "def" in a.text and "return" in a.text and PLACEHOLDER in a.text
    assert normalize("return a + b", "identifiers").text != a.text
    # the placeholder stands for the whole identifier in the source
    i = a.text.index(PLACEHOLDER)
    assert code[a.starts[i] : a.ends[i]] == "area"


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="identifiers"):
        normalize("x", "tokens")  # type: ignore[arg-type]


# -- fingerprints ----------------------------------------------------------------------
def test_default_guarantee_is_150_characters():
    assert guarantee() == K + W - 1 == 150


def test_fingerprints_are_deterministic_and_sparse():
    text = normalize(SOURCE).text
    a, b = fingerprints(text), fingerprints(text)
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.positions, b.positions)
    # winnowing keeps about 2 / (w + 1) of the k-grams
    density = len(a) / (len(text) - K + 1)
    assert 0.5 * 2 / (W + 1) < density < 2 * 2 / (W + 1)
    assert np.all(np.diff(a.positions) > 0)
    # no gap between selected positions is as long as a window
    assert np.all(np.diff(a.positions) <= W)


def test_a_planted_copy_in_other_code_shares_fingerprints_at_its_place():
    copied = inspect.getsource(textwrap.TextWrapper._split)  # a real ~1.5 KB function
    host = OTHER[:3000] + "\n\n" + textwrap.indent(copied, "        ") + "\n" + OTHER[3000:]
    mine, theirs = fingerprints(normalize(host).text), fingerprints(normalize(SOURCE).text)
    shared = np.intersect1d(mine.hashes, theirs.hashes)
    assert len(shared) >= 5
    # the shared fingerprints of the host lie inside the planted copy
    n = normalize(host)
    planted_at = host.index(copied.splitlines()[1].strip())
    positions = mine.positions[np.isin(mine.hashes, shared)]
    assert all(n.starts[p] >= planted_at - 200 for p in positions)


def test_unrelated_code_shares_no_fingerprints():
    a = fingerprints(normalize(SOURCE).text)
    b = fingerprints(normalize(OTHER).text)
    assert len(np.intersect1d(a.hashes, b.hashes)) == 0


def test_short_texts():
    assert len(fingerprints("")) == 0
    assert len(fingerprints("x" * (K - 1))) == 0
    one_window = fingerprints("abcdefghij" * ((K + W // 2) // 10))  # under a window: one
    assert len(one_window) == 1


def test_bad_parameters():
    with pytest.raises(ValueError):
        kgram_hashes("abc", 0)
    with pytest.raises(ValueError):
        winnow(np.zeros(3, dtype=np.uint64), 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(0, 4), min_size=1, max_size=200),
    st.integers(1, 64),
)
def test_sliding_argmin_is_the_rightmost_minimum(values, w):
    h = np.asarray(values, dtype=np.uint64)
    w = min(w, len(h))
    windows = sliding_window_view(h, w)
    expected = w - 1 - np.argmin(windows[:, ::-1], axis=1) + np.arange(len(windows))
    assert np.array_equal(_sliding_argmin(h, w), expected)


_TEXT = st.text(alphabet=st.sampled_from("abcxyz(){}=+;:_ 01"), max_size=300)


@settings(max_examples=200, deadline=None)
@given(_TEXT, _TEXT, _TEXT, st.integers(3, 12), st.integers(2, 20))
def test_guarantee_any_shared_run_of_k_plus_w_minus_1_is_found(a, b, shared, k, w):
    """The winnowing guarantee, for any texts and parameters (small ones, to be quick)."""
    shared = (shared + "q" * guarantee(k, w))[: max(len(shared), guarantee(k, w))]
    one, two = a + shared + b, b + "#" + shared + a
    f1, f2 = fingerprints(one, k, w), fingerprints(two, k, w)
    assert len(np.intersect1d(f1.hashes, f2.hashes)) >= 1
