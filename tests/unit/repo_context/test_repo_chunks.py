"""Chunks of whole lines."""

from __future__ import annotations

from safecoder_lsp.repo_context.chunks import CHUNK_CHARS, around, split


def numbered(n: int) -> str:
    return "".join(f"value_{i} = {i}\n" for i in range(n))


def test_split_cuts_whole_lines_into_chunks_of_at_most_64():
    text = numbered(150)
    chunks = split("a.py", text)
    assert [c.start_line for c in chunks] == [0, 64, 128]
    assert "".join(c.text for c in chunks) == text
    assert chunks[1].text.startswith("value_64 = 64\n")
    assert "value_64" in chunks[1].tokens and "value_0" not in chunks[1].tokens


def test_split_ends_a_chunk_of_long_lines_early_and_skips_blank_runs():
    long_line = "x = '" + "a" * 400 + "'\n"
    chunks = split("a.py", long_line * 20)
    assert len(chunks) > 1 and all(len(c.text) <= CHUNK_CHARS + len(long_line) for c in chunks)
    assert split("a.py", "\n" * 100) == []
    assert split("a.py", "last = 1")[0].text == "last = 1\n"  # a line break is added


def test_around_centres_on_the_line_and_stays_inside_the_file():
    text = numbered(200)
    c = around("a.py", text, 100)
    assert c is not None and c.start_line == 68 and "value_100 = 100" in c.text
    assert c.text.count("\n") == 64
    first = around("a.py", text, 2)
    assert first is not None and first.start_line == 0
    last = around("a.py", text, 199)
    assert last is not None and last.start_line == 136
    assert around("a.py", "", 0) is None
