from hypothesis import given
from hypothesis import strategies as st

from engine.base import StopWordMatcher


def feed_all(stops, pieces):
    m = StopWordMatcher(tuple(stops))
    out = "".join(m.feed(p) for p in pieces)
    return out + m.flush(), m.stopped


def test_stop_word_split_across_pieces_is_not_shown():
    out, stopped = feed_all(["<|endoftext|>"], ["a + b", "<|end", "oftext|>", "junk"])
    assert out == "a + b"
    assert stopped


def test_partial_stop_prefix_is_released_when_it_turns_out_harmless():
    out, stopped = feed_all(["\n\n"], ["x = 1\n", "y"])
    assert out == "x = 1\ny"
    assert not stopped


def test_earliest_stop_word_wins():
    out, _ = feed_all(["END", "\n"], ["abc\nxyzEND"])
    assert out == "abc"


@given(st.lists(st.text(max_size=8), max_size=12), st.sampled_from(["<|x|>", "\n", "ab"]))
def test_matcher_equals_cutting_the_joined_text(pieces, stop):
    out, stopped = feed_all([stop], pieces)
    joined = "".join(pieces)
    i = joined.find(stop)
    assert out == (joined[:i] if i != -1 else joined)
    assert stopped == (i != -1)
