"""The workspace folders named at initialize, for repository context."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as t

from safecoder_lsp.lsp.lifecycle import workspace_roots


def params(**kw) -> t.InitializeParams:
    return t.InitializeParams(capabilities=t.ClientCapabilities(), **kw)


def test_workspace_folders_win_over_the_root_uri():
    p = params(
        root_uri="file:///old",
        workspace_folders=[
            t.WorkspaceFolder(uri="file:///a%20b/src", name="src"),
            t.WorkspaceFolder(uri="vsls:/shared", name="remote"),
        ],
    )
    assert workspace_roots(p) == [Path("/a b/src")]


def test_root_uri_then_root_path_then_nothing():
    assert workspace_roots(params(root_uri="file:///w")) == [Path("/w")]
    assert workspace_roots(params(root_path="/legacy")) == [Path("/legacy")]
    assert workspace_roots(params()) == []
