"""llama.cpp's converter (``convert_hf_to_gguf.py`` with its ``conversion`` and
``gguf-py`` folders), taken from the llama-cpp-python source distribution of the
installed version: fetched once with pip from the package index (or the company's
mirror that pip is configured for), unpacked into the user cache, and reused.
``$SAFECODER_LLAMA_CPP_SRC`` names a llama.cpp source folder to use instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from engine.models.store import cache_root
from training.errors import TrainingError

ENV_SOURCE = "SAFECODER_LLAMA_CPP_SRC"
SCRIPT = "convert_hf_to_gguf.py"
#: the converters never ask the Hugging Face hub
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
WANTED = (SCRIPT, "convert_lora_to_gguf.py", "conversion/", "gguf-py/")


def _version() -> str:
    import llama_cpp

    return str(llama_cpp.__version__)


def _cache() -> Path:
    return cache_root() / "llama-cpp-src" / _version()


def converter_dir() -> Path:
    """A folder holding llama.cpp's converter scripts (fetched on first use)."""
    configured = os.environ.get(ENV_SOURCE, "").strip()
    if configured:
        folder = Path(configured).expanduser()
        if not (folder / SCRIPT).is_file():
            raise TrainingError(f"${ENV_SOURCE}={configured} has no {SCRIPT}")
        return folder
    folder = _cache()
    if (folder / SCRIPT).is_file():
        return folder
    with tempfile.TemporaryDirectory(prefix="llama-cpp-src-") as tmp:
        _unpack(_download(Path(tmp)), Path(tmp) / "src")
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.move(str(Path(tmp) / "src"), folder)
    return folder


def _download(where: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(where), f"llama-cpp-python=={_version()}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    found = sorted(where.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode != 0 or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        raise TrainingError(
            f"cannot fetch llama.cpp's converter (the llama-cpp-python {_version()} sources) "
            f"with pip: {tail[0]}; point pip at your package mirror or set ${ENV_SOURCE} to "
            "a llama.cpp source folder"
        )
    return found[0]


def _unpack(sdist: Path, dest: Path) -> None:
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            _, _, rest = member.name.partition("/vendor/llama.cpp/")
            if not rest or not any(rest == w or rest.startswith(w) for w in WANTED):
                continue
            if not (member.isfile() or member.isdir()):
                continue
            member.name = rest
            tar.extract(member, dest, filter="data")
    if not (dest / SCRIPT).is_file():
        raise TrainingError(f"{sdist.name} holds no vendor/llama.cpp/{SCRIPT}")


def run_script(script: str, args: list[str], out: Path, what: str) -> None:
    """Run one of llama.cpp's converter scripts (never asking the Hugging Face hub),
    which must write ``out``; a clear error with the end of its output if it fails."""
    cmd = [sys.executable, str(converter_dir() / script), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, check=False,
                          env={**os.environ, **OFFLINE})
    if done.returncode != 0 or not out.is_file():
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()][-3:]
        raise TrainingError(f"llama.cpp's {what} failed: " + " | ".join(lines))


def convert(checkpoint: Path, out: Path, outtype: str = "f16") -> None:
    """Run the converter on a transformers checkpoint folder (a clear error if it fails)."""
    run_script(SCRIPT, [str(checkpoint), "--outfile", str(out), "--outtype", outtype], out,
               "converter")
