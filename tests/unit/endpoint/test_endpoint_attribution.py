"""Attribution on the endpoint with a real index: a completion that copies indexed
GPL code is withheld ("content_filter") under action = block, and carries its
references under action = annotate, streamed or not; code that matches nothing
gets an empty list."""

from __future__ import annotations

import pytest
from endpoint_client import start

from attribution.index import Index, SourceDocument
from engine.base import CancelToken, GenerationRequest
from safecoder_lsp.config import Config
from safecoder_lsp.endpoint.judge import Judge
from safecoder_lsp.endpoint.server import code_before_hole

pytestmark = pytest.mark.model

BEFORE = '''import os


def read_settings(path):
    """Read KEY=VALUE lines from the file at path into a dictionary."""
    settings = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
'''
PROMPT = f"<|fim_prefix|>{BEFORE}<|fim_suffix|>\n    return settings\n<|fim_middle|>"
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def index(backend, tmp_path_factory) -> str:
    """An index holding the code before the cursor plus what the model writes there,
    under the GPL: the model's suggestion is then a copy of it."""
    generation = backend.submit(
        GenerationRequest(PROMPT, max_tokens=MAX_TOKENS), CancelToken(), user="setup"
    )
    text = "".join(generation)
    assert len(BEFORE + text) > 200
    path = tmp_path_factory.mktemp("index") / "ix.sqlite"
    ix = Index(path)
    ix.add_source(
        "gpl", [SourceDocument("org/settings", "settings.py", "GPL-3.0-only", BEFORE + text)]
    )
    ix.close()
    return str(path)


def judge(index: str, action: str) -> Judge:
    config = Config().with_values({"attribution.index": index, "attribution.action": action})
    found = Judge.open(config)
    assert found is not None
    return found


def test_the_code_before_the_hole_is_read_from_a_fim_prompt():
    from engine.fim import QWEN

    assert code_before_hole(QWEN, PROMPT) == BEFORE
    assert code_before_hole(QWEN, "plain text") == "plain text"
    assert code_before_hole(None, PROMPT) == PROMPT


def test_a_copy_of_gpl_code_is_blocked(backend, index, tmp_path):
    running = start(backend, tmp_path, judge=judge(index, "block"))
    try:
        body = running.complete(prompt=PROMPT, max_tokens=MAX_TOKENS).json()
        (choice,) = body["choices"]
        assert choice["text"] == "" and choice["finish_reason"] == "content_filter"
        assert choice["references"][0]["license"] == "GPL-3.0-only"
        assert not choice["references"][0]["allowed"]
        streamed = running.request(
            "POST",
            "/v1/completions",
            {"prompt": PROMPT, "max_tokens": MAX_TOKENS, "stream": True},
        ).events()
        assert streamed[-1] == "[DONE]"
        final = streamed[-2]["choices"][0]
        assert final["finish_reason"] == "content_filter"
        assert all(e["choices"][0]["text"] == "" for e in streamed[:-1])  # nothing leaked
        assert 'finish_reason="content_filter"' in running.metrics()
    finally:
        running.stop()


def test_annotate_sends_the_text_with_its_references(backend, index, tmp_path):
    running = start(backend, tmp_path, judge=judge(index, "annotate"))
    try:
        body = running.complete(prompt=PROMPT, max_tokens=MAX_TOKENS).json()
        (choice,) = body["choices"]
        assert choice["text"] and choice["finish_reason"] in ("stop", "length")
        (ref,) = choice["references"]
        assert (ref["repo"], ref["path"], ref["license"]) == (
            "org/settings",
            "settings.py",
            "GPL-3.0-only",
        )
        assert 0 <= ref["start"] < ref["end"] <= len(choice["text"])
        # streamed with an index: the whole text in one event once judged, then the end
        events = running.request(
            "POST",
            "/v1/completions",
            {"prompt": PROMPT, "max_tokens": MAX_TOKENS, "stream": True},
        ).events()
        assert len(events) == 3 and events[-1] == "[DONE]"
        assert events[0]["choices"][0]["text"] == choice["text"]
        assert events[1]["choices"][0]["references"] == choice["references"]
        other = running.complete(prompt="def fresh_name_xyz(q):\n    return", max_tokens=3).json()
        assert other["choices"][0]["references"] == []
    finally:
        running.stop()
