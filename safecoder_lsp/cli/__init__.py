"""The ``safecoder-lsp`` command: one module per command group in this package.

A group is a module ``safecoder_lsp.cli.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``; adding one is that module and a line in ``GROUPS``. Shared
output and logging helpers are in ``cli.output``.

Start-up order (safecoder_lsp.native): a command that will load the local model
loads llama.cpp before anything loads numpy, and some group modules import numpy
(attribution). So the groups are imported only in ``build_parser``, after ``main``
has decided from the words of the command line alone, with each group's
``loads_a_model``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from safecoder_lsp import __version__


class CommandGroup(Protocol):
    """What a group module provides."""

    def add_parser(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _never(words: list[str]) -> bool:
    return False


def _configured_engine(words: list[str]) -> bool:
    """Whether the configured engine is the local model (an unusable configuration:
    no; the command itself reports it)."""
    from safecoder_lsp.config import load_config
    from safecoder_lsp.native import uses_local_model

    try:
        return uses_local_model(load_config().config)
    except Exception:  # the command itself reports a configuration it cannot use
        return False


def _endpoint_serve(words: list[str]) -> bool:
    return "serve" in words[words.index("endpoint") + 1 :]


@dataclass(frozen=True)
class Group:
    """A command group: its name (= its module's) and whether a command line that
    names it will load the local model (read from the words, options left out)."""

    name: str
    loads_a_model: Callable[[list[str]], bool] = _never


# In the order of `safecoder-lsp --help`.
GROUPS: tuple[Group, ...] = (
    Group("serve", _configured_engine),
    Group("complete", _configured_engine),
    Group("doctor", _configured_engine),
    Group("model"),
    Group("attribution"),
    Group("endpoint", _endpoint_serve),
    Group("train"),
)
DEFAULT = "serve"  # `safecoder-lsp` alone, or with --stdio (how vscode-languageclient starts it)
COMMANDS = tuple(g.name for g in GROUPS)


def load_groups() -> dict[str, CommandGroup]:
    """The group modules by name (imports them: after the native decision)."""
    return {
        g.name: cast(CommandGroup, importlib.import_module(f"{__name__}.{g.name}")) for g in GROUPS
    }


def build_parser(groups: Mapping[str, CommandGroup] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safecoder-lsp",
        description="Self-hosted code completion language server (LSP) with a local model.",
    )
    parser.add_argument("--version", action="version", version=f"safecoder-lsp {__version__}")
    # `safecoder-lsp --stdio`: how vscode-languageclient (llm-vscode) starts a server.
    parser.add_argument("--stdio", action="store_true", help="same as `serve --stdio`")
    sub = parser.add_subparsers(dest="command")
    for group in (groups or load_groups()).values():
        group.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Before the parser: building it imports the attribution code, which loads numpy.
    if _loads_a_model(sys.argv[1:] if argv is None else argv):
        from safecoder_lsp import native

        native.preload()
    groups = load_groups()
    args = build_parser(groups).parse_args(argv)
    return groups[args.command or DEFAULT].run(args)


def _loads_a_model(argv: list[str]) -> bool:
    """Will this command line load the local model (see safecoder_lsp.native)? Read
    from the words alone: a wrong guess only costs the early load or skips it."""
    words = [w for w in argv if not w.startswith("-")]
    command = next((w for w in words if w in COMMANDS), DEFAULT)
    return next(g for g in GROUPS if g.name == command).loads_a_model(words)


__all__ = ["GROUPS", "Group", "build_parser", "main"]
