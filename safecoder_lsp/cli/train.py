"""``safecoder-lsp train prepare``: argparse glue over training/ (the optional
``train`` extra; imported only when the command runs, so the server never loads it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from safecoder_lsp.cli.output import print_error

EXTRA_HINT = "install the training extra: pip install 'safecoder-lsp[train]'"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    top = subparsers.add_parser(
        "train",
        help="build your own model from your code (dataset preparation)",
        description="Your own model, on your machines: prepare a dataset from your "
        "repositories. Needs the training extra (pip install 'safecoder-lsp[train]').",
    )
    sub = top.add_subparsers(dest="train_command", metavar="COMMAND")
    prep = sub.add_parser(
        "prepare",
        help="select, deduplicate, de-identify and split code into a dataset folder",
        description="Read REPOs (git repositories at HEAD, or plain folders), keep the "
        "code files, remove exact and near duplicates, replace secrets and personal "
        "data by placeholders, hold out files for evaluation, and write DIR "
        "(train.parquet, heldout.parquet, card.json, CARD.md).",
    )
    prep.add_argument("repos", nargs="+", metavar="REPO", type=Path)
    prep.add_argument("--out", required=True, type=Path, metavar="DIR")
    prep.add_argument("--language", action="append", default=None, metavar="ID",
                      help="keep only this language (repeatable; default: all code languages)")
    prep.add_argument("--include", action="append", default=[], metavar="GLOB",
                      help="keep only paths matching GLOB (repeatable)")
    prep.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                      help="leave out paths matching GLOB (repeatable)")
    prep.add_argument("--max-bytes", type=int, default=1_000_000,
                      help="leave out larger files (default 1000000)")
    prep.add_argument("--heldout", type=float, default=0.1, metavar="FRACTION",
                      help="share of files held out for evaluation (default 0.1)")
    prep.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    top.set_defaults(train_parser=top)
    return top


def run(args: argparse.Namespace) -> int:
    if getattr(args, "train_command", None) is None:
        args.train_parser.print_help(sys.stderr)
        return 2
    try:
        from training.errors import TrainingError
        from training.prepare import prepare
        from training.prepare.settings import CODE_LANGUAGES, PrepareSettings
    except ImportError as exc:
        print_error(f"the training pipeline is not installed ({exc.name} is missing)", EXTRA_HINT)
        return 1
    try:
        settings = PrepareSettings(
            languages=tuple(args.language or CODE_LANGUAGES), include=tuple(args.include),
            exclude=tuple(args.exclude), max_bytes=args.max_bytes,
            heldout_fraction=args.heldout, seed=args.seed,
        )
        card = prepare(args.repos, args.out, settings, log=_log)
    except TrainingError as exc:
        print_error(str(exc))
        return 1
    print(f"{args.out} (version {card['version']})")
    return 0


def _log(line: str) -> None:
    print(line, file=sys.stderr)
