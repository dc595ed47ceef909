import pytest
from hypothesis import given
from hypothesis import strategies as st

from safecoder_lsp.documents import (
    Document,
    DocumentStore,
    PositionError,
    UnknownDocument,
    count_units,
)

TEXT = "a = '😀'\nb = \"中文\" + x\r\nlast"


@pytest.mark.parametrize(
    ("encoding", "character", "expected_char"),
    [
        # after the emoji on line 0: "a = '😀" -> utf-32: 6, utf-16: 7, utf-8: 9
        ("utf-32", 6, "'"),
        ("utf-16", 7, "'"),
        ("utf-8", 9, "'"),
    ],
)
def test_offset_after_astral_character(encoding, character, expected_char):
    doc = Document("file:///t.py", TEXT)
    off = doc.offset_at(0, character, encoding)
    assert doc.text[off] == expected_char


@pytest.mark.parametrize(("encoding", "character"), [("utf-16", 8), ("utf-8", 12), ("utf-32", 8)])
def test_offset_after_cjk(encoding, character):
    # line 1: b = "中文" + x ; after the closing quote
    doc = Document("file:///t.py", TEXT)
    off = doc.offset_at(1, character, encoding)
    assert doc.text[off:].startswith(" + x")


def test_crlf_line_end_is_not_part_of_the_line():
    doc = Document("u", TEXT)
    assert doc.line_text(1) == 'b = "中文" + x'
    end = doc.offset_at(1, len('b = "中文" + x'), "utf-32")
    assert doc.text[end : end + 2] == "\r\n"
    with pytest.raises(PositionError, match="beyond the end of line 1"):
        doc.offset_at(1, len('b = "中文" + x') + 1, "utf-32")


def test_position_splitting_a_surrogate_pair_is_rejected():
    doc = Document("u", TEXT)
    with pytest.raises(PositionError, match="splits a character"):
        doc.offset_at(0, 6, "utf-16")  # inside the emoji's two utf-16 units
    with pytest.raises(PositionError, match="splits a character"):
        doc.offset_at(0, 7, "utf-8")


def test_line_beyond_end_is_an_error_not_a_clamp():
    doc = Document("u", "one\ntwo")
    with pytest.raises(PositionError, match="line 5 is beyond the end of the document"):
        doc.offset_at(5, 0, "utf-16")
    with pytest.raises(PositionError, match="negative"):
        doc.offset_at(0, -1, "utf-16")


def test_position_at_round_trips_for_every_encoding():
    doc = Document("u", TEXT)
    for enc in ("utf-8", "utf-16", "utf-32"):
        for offset in range(len(doc.text) + 1):
            if offset and doc.text[offset - 1] == "\r" and doc.text[offset : offset + 1] == "\n":
                continue  # between \r and \n is not a position
            line, ch = doc.position_at(offset, enc)
            assert doc.offset_at(line, ch, enc) == offset


def test_incremental_replace_with_utf16_range():
    doc = Document("u", "x = '😀'\ny = 1\n")
    # replace the closing quote after the emoji (utf-16 col 7..8) with "!'"
    doc.replace((0, 7), (0, 8), "!'", "utf-16")
    assert doc.text == "x = '😀!'\ny = 1\n"
    doc.replace((1, 4), (1, 5), "42", "utf-16")
    assert doc.line_text(1) == "y = 42"
    assert doc.line_count == 3
    doc.replace((0, 0), (2, 0), "", "utf-16")
    assert doc.text == ""
    assert doc.line_count == 1


def test_replace_with_inverted_range_is_rejected_and_text_kept():
    doc = Document("u", "abc")
    with pytest.raises(PositionError):
        doc.replace((0, 2), (0, 1), "z", "utf-16")
    assert doc.text == "abc"


def test_store_unknown_document():
    store = DocumentStore()
    with pytest.raises(UnknownDocument, match="didOpen"):
        store.get("file:///nope.py")
    store.open("file:///a.py", "x", 1, "python")
    assert "file:///a.py" in store
    store.close("file:///a.py")
    assert len(store) == 0


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_units_agree_with_python_codecs(text):
    assert count_units(text, "utf-8") == len(text.encode("utf-8"))
    assert count_units(text, "utf-16") == len(text.encode("utf-16-le")) // 2
    assert count_units(text, "utf-32") == len(text)


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.integers(0, 40),
    st.sampled_from(["utf-8", "utf-16", "utf-32"]),
)
def test_every_valid_position_maps_inside_the_document(text, offset, enc):
    doc = Document("u", text)
    offset = min(offset, len(text))
    if offset and text[offset - 1] == "\r" and text[offset : offset + 1] == "\n":
        return
    line, ch = doc.position_at(offset, enc)
    assert doc.offset_at(line, ch, enc) == offset
