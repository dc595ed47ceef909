"""Workspace files read from disk: bounded, in the background."""

from __future__ import annotations

from pathlib import Path

from safecoder_lsp.repo_context.workspace import WorkspaceFiles, read_source


def tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return root


def test_source_files_are_read_and_vendored_binary_big_and_hidden_ones_skipped(tmp_path):
    tree(
        tmp_path,
        {
            "app.py": "def main():\n    pass\n",
            "lib/util.go": "func Helper(x int) int {\n}\n",
            "node_modules/dep/index.js": "function dep() {}\n",
            ".git/hooks/x.py": "x = 1\n",
            "build/gen.py": "y = 1\n",
            "pkg.egg-info/a.py": "z = 1\n",
            "notes.txt": "not code\n",
            "blob.py": b"\x00\x01binary",
            "latin.py": b"caf\xe9 = 1\n",
            "huge.py": "a = 1\n" * 50_000,
        },
    )
    ws = WorkspaceFiles([tmp_path])
    ws.load()
    assert ws.done.is_set()
    assert [f.path for f in ws.files()] == ["app.py", "lib/util.go"]
    app = ws.files()[0]
    assert app.uri == (tmp_path / "app.py").resolve().as_uri()
    assert [d.name for d in app.definitions] == ["main"]
    assert app.chunks[0].text == "def main():\n    pass\n"
    assert [d.name for d in ws.files()[1].definitions] == ["Helper"]


def test_file_count_and_bytes_are_capped(tmp_path):
    tree(tmp_path, {f"m{i:02}.py": f"v{i} = {i}\n" * 10 for i in range(20)})
    ws = WorkspaceFiles([tmp_path], max_files=5)
    ws.load()
    assert [f.path for f in ws.files()] == [f"m{i:02}.py" for i in range(5)]
    small = WorkspaceFiles([tmp_path], max_total_bytes=200)
    small.load()
    assert 0 < len(small.files()) < 5


def test_shallow_files_come_first(tmp_path):
    tree(tmp_path, {"a/deep.py": "d = 1\n", "z.py": "z = 1\n"})
    ws = WorkspaceFiles([tmp_path], max_files=1)
    ws.load()
    assert [f.path for f in ws.files()] == ["z.py"]


def test_start_reads_in_the_background_and_relative_paths(tmp_path):
    tree(tmp_path, {"src/a.py": "a = 1\n"})
    ws = WorkspaceFiles([tmp_path])
    ws.start()
    assert ws.done.wait(10)
    assert [f.path for f in ws.files()] == ["src/a.py"] and ws.version == 1
    assert ws.name == tmp_path.name
    assert ws.relative((tmp_path / "src" / "b.py").as_uri()) == "src/b.py"
    assert ws.relative("file:///elsewhere/c.py") == "c.py"
    assert ws.relative("untitled:Untitled-1") == "untitled:Untitled-1"
    none = WorkspaceFiles([])
    none.start()
    assert none.done.is_set() and none.files() == ()


def test_read_source_refuses_what_is_not_source(tmp_path):
    (tmp_path / "a.md").write_text("# doc\n")
    assert read_source(tmp_path / "a.md") is None
    assert read_source(tmp_path / "missing.py") is None
