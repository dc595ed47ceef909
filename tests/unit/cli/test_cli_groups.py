"""safecoder_lsp.cli: the command groups build the parser in the listed order, each
module provides add_parser and run, and importing the package loads neither numpy
nor a group (safecoder_lsp.native decides first what loads before numpy)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from safecoder_lsp import cli


def test_every_group_is_a_sub_command_in_order():
    groups = cli.load_groups()
    assert list(groups) == [g.name for g in cli.GROUPS]
    assert all(callable(m.add_parser) and callable(m.run) for m in groups.values())
    parser = cli.build_parser(groups)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == [g.name for g in cli.GROUPS]


def test_importing_the_cli_loads_no_numpy_and_no_group():
    code = (
        "import sys, safecoder_lsp.cli as c\n"
        "loaded = [m for m in sys.modules if m == 'numpy' or m.startswith('attribution')"
        " or any(m == f'safecoder_lsp.cli.{g.name}' for g in c.GROUPS)]\n"
        "print(loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_which_command_lines_load_the_model_is_read_from_the_words():
    assert cli._loads_a_model(["endpoint", "serve", "--port", "1"])
    assert not cli._loads_a_model(["endpoint", "token", "list"])
    assert not cli._loads_a_model(["model", "list"])
    assert not cli._loads_a_model(["attribution", "stats", "--index", "x"])


@pytest.mark.parametrize("words", [["model"], ["attribution"], ["endpoint"], ["endpoint", "token"]])
def test_a_group_without_its_command_prints_its_commands(words):
    """`safecoder-lsp endpoint token` alone raised AttributeError (no --tokens) before."""
    done = subprocess.run(
        [sys.executable, "-m", "safecoder_lsp", *words], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"usage: safecoder-lsp {' '.join(words)}" in done.stderr
    assert "COMMAND" in done.stderr
