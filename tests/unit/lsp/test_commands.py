"""The pure parts of the workspace/executeCommand handlers."""

from __future__ import annotations

import pytest
from pygls.exceptions import JsonRpcInvalidParams

from safecoder_lsp import references
from safecoder_lsp.lsp.commands import (
    ACCEPT_COMMAND,
    accept_command_for,
    first_argument,
    log_limit,
)


def test_the_first_argument_also_when_wrapped_in_a_list():
    assert first_argument(()) is None
    assert first_argument(("rid", {"x": 1})) == "rid"
    assert first_argument((["rid", {"x": 1}],)) == "rid"
    assert first_argument(([],)) is None


def test_the_log_limit():
    assert log_limit(None) == references.DEFAULT_LOG_LIMIT
    assert log_limit({}) == references.DEFAULT_LOG_LIMIT
    assert log_limit({"limit": 3}) == 3
    assert log_limit(0) == 0
    for bad in ({"limit": -1}, {"limit": True}, {"limit": "3"}, "x"):
        with pytest.raises(JsonRpcInvalidParams, match="N >= 0"):
            log_limit(bad)


def test_the_accept_command_carries_references_only_when_there_are_some():
    plain = accept_command_for("rid", [])
    assert (plain.command, plain.arguments) == (ACCEPT_COMMAND, ["rid"])
    refs = [{"license": "MIT"}]
    with_refs = accept_command_for("rid", refs)
    assert with_refs.arguments == ["rid", {"references": refs}]
