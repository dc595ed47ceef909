"""``safecoder-lsp doctor``: the command's wiring; the checks are safecoder_lsp.doctor."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser("doctor", help="check configuration, model and engine")


def run(args: argparse.Namespace) -> int:
    from safecoder_lsp.doctor import run_doctor

    return run_doctor()
