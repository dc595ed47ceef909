"""The ``safecoder-lsp model`` command line over the model store, run as a subprocess."""

from __future__ import annotations

import hashlib
from pathlib import Path

from support.model_files import assert_one_clear_error, leftovers, make_spec, run_cli

from engine import models as modelstore


def test_cli_path(store: Path, model_bytes: bytes) -> None:
    proc = run_cli(store, "path")
    assert_one_clear_error(proc, "the default model is not installed")
    assert "model pull" in proc.stderr

    store.mkdir()
    default = store / modelstore.DEFAULT.file_name
    default.write_bytes(model_bytes)
    proc = run_cli(store, "path")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(default)


def test_cli_list(store: Path, src: Path, model_bytes: bytes) -> None:
    proc = run_cli(store, "list")
    assert proc.returncode == 0
    assert proc.stdout == ""
    assert f"no models in {store}" in proc.stderr

    modelstore.pull(str(src), make_spec(model_bytes))
    proc = run_cli(store, "list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == [f"{store / 'tiny.gguf'}\t{len(model_bytes):,} bytes\tother GGUF"]


def test_cli_pull_bad_sources(store: Path, tmp_path: Path, src: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    proc = run_cli(store, "pull", str(missing))
    assert_one_clear_error(proc, f"{missing} does not exist")

    text = tmp_path / "readme.gguf"
    text.write_text("hello\n")
    proc = run_cli(store, "pull", str(text))
    assert_one_clear_error(proc, "is not a GGUF model file")

    # a valid GGUF that is not the default model: wrong size, not installed
    proc = run_cli(store, "pull", str(src))
    assert_one_clear_error(proc, f"expected {modelstore.DEFAULT.size:,}")
    assert modelstore.list_models() == []
    assert leftovers(store) == []


def test_cli_verify(store: Path, src: Path, model_bytes: bytes) -> None:
    target = modelstore.pull(str(src), make_spec(model_bytes))
    proc = run_cli(store, "verify", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ok: {target} ")
    assert hashlib.sha256(model_bytes).hexdigest() in proc.stdout

    target.write_bytes(model_bytes[:-4])
    proc = run_cli(store, "verify", str(target))
    assert_one_clear_error(proc, "truncated")


def test_cli_pull_when_already_installed_does_nothing(store: Path) -> None:
    store.mkdir()
    default = store / modelstore.DEFAULT.file_name
    with open(default, "wb") as f:  # sparse: the published size, no download needed
        f.truncate(modelstore.DEFAULT.size)
    before = default.stat()
    proc = run_cli(store, "pull")
    assert proc.returncode == 0, proc.stderr
    assert "already installed" in proc.stderr and "--force" in proc.stderr
    assert proc.stdout.strip() == str(default)
    after = default.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
