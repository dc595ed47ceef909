from safecoder_lsp.completion.cache import ResultCache, TypedAhead, cache_key
from safecoder_lsp.documents import Document


def test_lru_evicts_least_recently_used():
    c = ResultCache(2)
    c.put("a", "1")
    c.put("b", "2")
    assert c.get("a") == "1"
    c.put("c", "3")
    assert c.get("b") is None
    assert c.get("a") == "1" and c.get("c") == "3"
    assert c.hits == 3 and c.misses == 1


def test_zero_capacity_disables():
    c = ResultCache(0)
    c.put("a", "1")
    assert c.get("a") is None


def test_cache_key_separates_parts():
    assert cache_key("ab", "c") != cache_key("a", "bc")
    assert cache_key("x", 1) == cache_key("x", 1)


def test_typed_ahead_serves_the_rest_of_the_suggestion():
    doc = Document("u", "def f(a, b):\n    return \n\nprint(f(1, 2))\n")
    cursor = doc.text.index("return ") + len("return ")
    ta = TypedAhead()
    ta.remember(doc, cursor, "a + b", "rid1")
    doc.set_text(doc.text[:cursor] + "a +" + doc.text[cursor:])
    hit = ta.lookup(doc, cursor + 3)
    assert hit is not None and hit.text == " b" and hit.request_id == "rid1"


def test_typed_ahead_misses_when_the_typed_text_diverges_or_context_changed():
    doc = Document("u", "x = \ny = 2\n")
    ta = TypedAhead()
    ta.remember(doc, 4, "41", "r")
    doc.set_text("x = 5\ny = 2\n")
    assert ta.lookup(doc, 5) is None  # typed "5", suggestion was "41"
    doc.set_text("x = 4\ny = 3\n")
    assert ta.lookup(doc, 5) is None  # the text after the cursor changed
    doc.set_text("x = 41\ny = 2\n")
    assert ta.lookup(doc, 6) is None  # typed all of it: nothing left to show
    doc.set_text("x = 4\ny = 2\n")
    assert ta.lookup(doc, 5).text == "1"
