"""The per-document snapshot: byte-identical while the user types, refreshed when the
cursor leaves its region or after a pause; sources are open documents, their recent
edits, and workspace files."""

from __future__ import annotations

from pathlib import Path

from engine.fim import CODELLAMA, QWEN
from safecoder_lsp.completion.context import build_context, estimate_tokens
from safecoder_lsp.documents import Document
from safecoder_lsp.repo_context.provider import (
    PAUSE_S,
    REFRESH_S,
    REGION_LINES,
    Cursor,
    OpenDocument,
    RepoContext,
)
from safecoder_lsp.repo_context.settings import ContextSettings
from safecoder_lsp.repo_context.workspace import MAX_FILE_BYTES, WorkspaceFiles

HELPERS = (
    "def quantize_sample(sample, *, levels=16, dither=False):\n"
    '    """Round a sample to one of the levels."""\n'
    "    return round(sample * levels) / levels\n"
)
CURRENT = "from helpers import quantize_sample\n\n\ndef encode(samples):\n    out = []\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def cursor(text: str, line: int, uri: str = "file:///w/cur.py") -> Cursor:
    return Cursor(uri, "python", line, text, "\n")


def provider(docs: list[OpenDocument], clock: Clock | None = None, **kw) -> RepoContext:
    return RepoContext(ContextSettings(**kw), lambda: docs, None, clock or Clock())


def test_definitions_from_an_open_document_in_the_repository_format():
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    got = provider(docs).snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    assert got.block.startswith("<|repo_name|>workspace\n<|file_sep|>helpers.py\n")
    assert "levels=16, dither=False" in got.block
    assert got.block.endswith("<|file_sep|>cur.py\n")
    assert got.files == (("helpers.py", got.files[0][1]),) and "quantize_sample" in got.files[0][1]


def test_consecutive_keystrokes_on_a_line_get_the_same_block():
    clock = Clock()
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs, clock)
    first = rc.snippets(cursor(CURRENT + "    for s in samples:", 5), QWEN, estimate_tokens, 512)
    docs.append(OpenDocument("file:///w/other.py", "python", "def quantize_more(): ...\n"))
    clock.now += 60  # however long the user takes on this line
    second = rc.snippets(cursor(CURRENT + "    for s in samples: q", 5), QWEN, estimate_tokens, 512)
    assert second.block == first.block and rc.refreshes == 1


def test_a_nearby_line_refreshes_only_after_a_pause_a_far_one_at_once():
    clock = Clock()
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs, clock)
    rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    rc.snippets(cursor(CURRENT, 5), QWEN, estimate_tokens, 512)
    assert rc.refreshes == 1
    clock.now += REFRESH_S
    rc.snippets(cursor(CURRENT, 6), QWEN, estimate_tokens, 512)
    assert rc.refreshes == 2
    rc.snippets(cursor(CURRENT, 6 + REGION_LINES + 1), QWEN, estimate_tokens, 512)
    assert rc.refreshes == 3


def test_while_the_user_types_on_across_lines_the_block_waits_for_a_pause():
    clock = Clock()
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs, clock)
    first = rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    other = "def quantize_more(x, *, mode='floor'): ...\n"
    docs.insert(0, OpenDocument("file:///w/more.py", "python", other))
    text = CURRENT + "    y = quantize_more(\n"
    # keystrokes every 0.2 s over several lines, for longer than REFRESH_S
    for step in range(int(2 * REFRESH_S / 0.2)):
        clock.now += 0.2
        got = rc.snippets(cursor(text, 5 + step % 3), QWEN, estimate_tokens, 512)
        assert got is first
    assert rc.refreshes == 1
    clock.now += PAUSE_S
    changed = rc.snippets(cursor(text, 6), QWEN, estimate_tokens, 512)
    assert rc.refreshes == 2 and "mode='floor'" in changed.block


def test_a_refresh_that_finds_the_same_snippets_keeps_the_text_and_a_new_one_changes_it():
    clock = Clock()
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs, clock)
    first = rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    clock.now += REFRESH_S
    again = rc.snippets(cursor(CURRENT, 5), QWEN, estimate_tokens, 512)
    assert again is first
    other = "def quantize_more(x, *, mode='floor'): ...\n"
    docs.insert(0, OpenDocument("file:///w/more.py", "python", other))
    clock.now += REFRESH_S
    text = CURRENT + "    y = quantize_more(\n"
    changed = rc.snippets(cursor(text, 6), QWEN, estimate_tokens, 512)
    assert "mode='floor'" in changed.block and changed.block != first.block


def test_a_new_template_or_budget_lays_out_again():
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs)
    qwen = rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    llama = rc.snippets(cursor(CURRENT, 4), CODELLAMA, estimate_tokens, 512)
    assert llama.block.startswith("# path: helpers.py\n# def quantize_sample(")
    assert qwen.block != llama.block
    assert rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 0).block == ""


def test_off_or_no_snippets_allowed_gives_nothing():
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    assert provider(docs, enabled=False).snippets(cursor(CURRENT, 4), QWEN, len, 512).block == ""
    assert provider(docs, max_snippets=0).snippets(cursor(CURRENT, 4), QWEN, len, 512).block == ""


def test_an_open_document_too_big_to_parse_in_time_gives_no_context():
    # a 10 MB file would take seconds of ast parsing on the keystroke path
    filler = "".join(f"value_{i} = {i}\n" for i in range(20000))
    assert len(HELPERS + filler) > MAX_FILE_BYTES
    text = CURRENT + "    quantize_sample("
    big = [OpenDocument("file:///w/helpers.py", "python", HELPERS + filler, edited_line=1)]
    assert provider(big).snippets(cursor(text, 5), QWEN, estimate_tokens, 512).block == ""
    small = [OpenDocument("file:///w/helpers.py", "python", HELPERS + filler[:2000])]
    assert (
        "quantize_sample"
        in provider(small).snippets(cursor(text, 5), QWEN, estimate_tokens, 512).block
    )


def test_the_current_document_is_not_its_own_context():
    same = [OpenDocument("file:///w/cur.py", "python", HELPERS + CURRENT)]
    text = HELPERS + CURRENT + "    quantize_sample("
    assert provider(same).snippets(cursor(text, 8), QWEN, estimate_tokens, 512).block == ""


def test_the_last_edit_of_another_document_enters_the_ring_and_stays_after_it_closes():
    body = "".join(f"checksum_{i} = crc_update(buffer_{i}, polynomial)\n" for i in range(200))
    docs = [OpenDocument("file:///w/crc.py", "python", body, edited_line=150)]
    rc = provider(docs)
    rc.snippets(cursor(CURRENT, 4), QWEN, estimate_tokens, 512)
    assert any(
        c.path == "crc.py" and c.start_line <= 150 < c.start_line + 64 for c in rc.ring.chunks()
    )
    docs.clear()  # closed
    rc.forget("file:///w/cur.py")
    text = CURRENT + "    total = crc_update(buffer_9, polynomial)\n"
    got = rc.snippets(cursor(text, 6), QWEN, estimate_tokens, 512)
    assert "checksum_150 = crc_update" in got.block


def test_workspace_files_on_disk_and_paths_relative_to_the_root(tmp_path: Path):
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "helpers.py").write_text(HELPERS)
    (tmp_path / "cur.py").write_text(CURRENT)
    ws = WorkspaceFiles([tmp_path])
    ws.load()
    rc = RepoContext(ContextSettings(), list, ws)
    uri = (tmp_path / "cur.py").as_uri()
    got = rc.snippets(cursor(CURRENT, 4, uri), QWEN, estimate_tokens, 512)
    assert got.block.startswith(f"<|repo_name|>{tmp_path.name}\n<|file_sep|>audio/helpers.py\n")
    assert got.block.endswith("<|file_sep|>cur.py\n")
    assert "cur.py\nfrom helpers" not in got.block  # its own file on disk is left out


def test_prompt_building_per_keystroke_keeps_the_block_byte_identical():
    # What the service does per keystroke: the window around the cursor, the
    # snapshot's block, the template; typing on one line changes only the prompt's end.
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    rc = provider(docs)
    prompts = []
    for typed in ("    y = q", "    y = qu", "    y = qua"):
        text = CURRENT + typed + "\n\nprint(encode([]))\n"
        doc = Document("file:///w/cur.py", text, 1, "python")
        ctx = build_context(doc, len(CURRENT) + len(typed), estimate_tokens, 768, 192)
        c = Cursor(doc.uri, "python", ctx.cursor_line, ctx.prefix, ctx.suffix)
        block = rc.snippets(c, QWEN, estimate_tokens, 512).block
        prompts.append(QWEN.build(ctx.before, ctx.suffix, ctx.line_head, block))
    stable = prompts[0][: prompts[0].index("<|fim_middle|>")]
    assert "quantize_sample(sample, *, levels=16" in stable
    assert all(p.startswith(stable) for p in prompts)
    assert [p[len(stable) :] for p in prompts] == [
        "<|fim_middle|>    y = q",
        "<|fim_middle|>    y = qu",
        "<|fim_middle|>    y = qua",
    ]


def test_other_open_documents_come_when_similar_and_of_the_language():
    # The start of each document opened recently enters the ring (another
    # language's does not); it is chosen only when it shares identifiers.
    util = "from main import add0\n\n\ndef sub(a, b):\n    return add0(a, -b)\n"
    docs = [
        OpenDocument("file:///w/util.py", "python", util),
        OpenDocument("file:///w/notes.md", "markdown", "# add0 in notes\n"),
        OpenDocument("file:///w/unrelated.py", "python", "def mul(a, b):\n    return a * b\n"),
    ]
    rc = provider(docs)
    got = rc.snippets(cursor("def add0(a, b):\n", 1), QWEN, estimate_tokens, 512)
    assert got.files == (("util.py", util),)
    assert {c.path for c in rc.ring.chunks()} == {"util.py", "unrelated.py"}


def test_the_block_stays_within_the_budget_with_many_similar_files():
    body = "".join(f"reading_{i} = calibrate(sensor, offset_{i})\n" for i in range(40))
    docs = [OpenDocument(f"file:///w/s{i}.py", "python", body + f"# {i}\n") for i in range(20)]
    rc = provider(docs, max_snippets=64)
    text = CURRENT + "    value = calibrate(sensor, offset_3)\n"
    for budget in (128, 512):
        block = rc.snippets(cursor(text, 6), QWEN, estimate_tokens, budget).block
        assert "calibrate(sensor" in block
        assert budget * 0.5 < estimate_tokens(block) <= budget * 1.05
