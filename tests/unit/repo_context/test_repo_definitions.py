"""Top-level definitions: signature and docstring, not bodies."""

from __future__ import annotations

from safecoder_lsp.repo_context.definitions import MAX_LINES, definitions

PYTHON = '''import os


@cache
def load_settings(path: str,
                  *, strict: bool = False) -> dict:
    """Read the settings file.

    Missing keys get defaults."""
    secret_body_line = 1
    return {}


class Store(Base):
    """Keeps things."""

    limit = 3

    def put(self, key, value):
        body_of_put = 2

    async def fetch(self, key): return None


def one(): return 1

value = 3
'''


def test_python_definitions_keep_signatures_and_docstrings_only():
    found = {d.name: d for d in definitions("pkg/s.py", PYTHON)}
    assert list(found) == ["load_settings", "Store", "one"]
    f = found["load_settings"]
    assert f.path == "pkg/s.py" and f.line == 4  # the def line (0-based)
    assert f.text.startswith("@cache\ndef load_settings(path: str,\n")
    assert "*, strict: bool = False) -> dict:" in f.text
    assert "Read the settings file." in f.text and "Missing keys get defaults." in f.text
    assert "secret_body_line" not in f.text
    s = found["Store"].text
    assert "class Store(Base):" in s and '"""Keeps things."""' in s
    assert "def put(self, key, value):" in s and "async def fetch(self, key)" in s
    assert "body_of_put" not in s and "limit" not in s
    assert found["one"].text.startswith("def one(): return 1\n")


def test_a_python_file_that_does_not_parse_falls_back_to_the_regex():
    found = definitions("broken.py", "def half_typed(a, b):\n    return (\n\ndef other():\n")
    assert [d.name for d in found] == ["half_typed", "other"]


def test_other_languages_by_regex_with_doc_comments():
    code = (
        "// Adds two numbers.\n"
        "export function addTwo(a, b) {\n  return a + b;\n}\n"
        "func (s *Server) Handle(w http.ResponseWriter,\n    r *http.Request) {\n}\n"
        "static int compute_sum(int *xs, size_t n) {\n}\n"
        "pub fn parse_thing(x: &str) -> Result<Thing> {\n}\n"
        "class Widget extends Base {\n}\n"
        "if (ready) {\n}\n"
        "  function nested() {}\n"
    )
    found = {d.name: d for d in definitions("x.ts", code)}
    assert list(found) == ["addTwo", "Handle", "compute_sum", "parse_thing", "Widget"]
    assert found["addTwo"].text == "// Adds two numbers.\nexport function addTwo(a, b) {\n"
    assert found["Handle"].text.endswith("r *http.Request) {\n")  # the signature goes on
    assert "return a + b" not in found["addTwo"].text


def test_a_definition_is_bounded():
    params = ",\n".join(f"    p{i}" for i in range(50))
    found = definitions("long.py", f"def wide(\n{params}\n):\n    pass\n")
    assert found[0].text.count("\n") <= MAX_LINES
