"""One real server session per editor flavour, each with that client's own
``initialize`` capabilities, on a line with non-ASCII text before the cursor.

Every position here (the incremental edit, the request, the completion's range) is
counted in the encoding the client expects. If the server negotiated or applied another
one, the edit would land elsewhere or be refused (the document is then dropped), the
request would point into the middle of the line or past its end, and the range would
replace the wrong text: each assertion below would break.

Where the capabilities come from:

- VS Code: pytest-lsp's capture of VS Code 1.65.2 (``visual-studio-code``) plus
  ``textDocument.inlineCompletion``, which vscode-languageclient 10 adds (LSP 3.18);
  no ``general.positionEncodings``, so UTF-16.
- Neovim: pytest-lsp's capture of Neovim 0.11.0 (``neovim@v0.11.0``): UTF-8 first, no
  inline completion capability (0.12 adds it). The editors/neovim plugin asks for
  ``textDocument/inlineCompletion`` itself; ``vim.lsp.completion`` uses the fallback.
- IntelliJ: pytest-lsp has no capture; ``lsp4ij_capabilities`` is built from LSP4IJ's
  ``ClientCapabilitiesFactory`` (github.com/redhat-developer/lsp4ij,
  src/main/java/com/redhat/devtools/lsp4ij/internal/capabilities/ClientCapabilitiesFactory.java,
  as of 0.20.x): ``positionEncodings = ["utf-16"]`` and ``inlineCompletion`` (added in
  0.20.0). Its initializationOptions and settings are editors/intellij's template files.
- Helix: pytest-lsp has no capture; ``helix_capabilities`` is built from Helix's
  ``Client::initialize`` (github.com/helix-editor/helix, helix-lsp/src/client.rs, 25.07.1):
  ``positionEncodings = ["utf-8", "utf-32", "utf-16"]``, no inline completion. Its
  initializationOptions and workspace configuration are the ``config`` table of
  editors/helix/languages.toml.
- Emacs: pytest-lsp's capture of Eglot on Emacs 29.1 (``emacs@v29.1``): UTF-32 first,
  no inline completion (Eglot 1.24 still has none).
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lsp_session import caps, inline, insert_text, open_doc, session
from lsprotocol import converters
from lsprotocol import types as t
from pytest_lsp import client_capabilities

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "editors"

# The cursor line, before and after the user types "na": "é" is 1 UTF-16 unit and 2
# UTF-8 bytes, "🚀" is 2 UTF-16 units (a surrogate pair) and 4 UTF-8 bytes.
TYPED_BEFORE = '    return "Héllo 🚀 " + '
TYPED = "na"
TEXT = "def greet(name):\n" + TYPED_BEFORE + '\n\nprint(greet("Zoë"))\n'
LINE = 1


def units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def _structure(data: dict[str, Any]) -> t.ClientCapabilities:
    return converters.get_converter().structure(data, t.ClientCapabilities)


def lsp4ij_capabilities() -> t.ClientCapabilities:
    """LSP4IJ 0.20's ClientCapabilitiesFactory.create(), the parts a server can see."""
    return _structure(
        {
            "general": {
                "staleRequestSupport": {"cancel": True, "retryOnContentModified": []},
                "positionEncodings": ["utf-16"],
            },
            "workspace": {
                "applyEdit": True,
                "configuration": True,
                "symbol": {},
                "executeCommand": {"dynamicRegistration": True},
                "workspaceFolders": True,
                "workspaceEdit": {
                    "documentChanges": True,
                    "resourceOperations": ["create", "delete", "rename"],
                },
                "didChangeWatchedFiles": {"dynamicRegistration": True},
                "fileOperations": {
                    "dynamicRegistration": True,
                    "didCreate": True,
                    "didDelete": True,
                    "willRename": True,
                    "didRename": True,
                },
                "didChangeConfiguration": {"dynamicRegistration": True},
                "codeLens": {"refreshSupport": True},
                "inlayHint": {"refreshSupport": True},
                "semanticTokens": {"refreshSupport": True},
                "diagnostics": {"refreshSupport": True},
            },
            "textDocument": {
                "synchronization": {
                    "dynamicRegistration": True,
                    "willSave": True,
                    "willSaveWaitUntil": True,
                },
                "publishDiagnostics": {
                    "relatedInformation": True,
                    "tagSupport": {"valueSet": [1, 2]},
                    "codeDescriptionSupport": True,
                    "dataSupport": True,
                },
                "completion": {
                    "dynamicRegistration": True,
                    "completionItem": {
                        "snippetSupport": True,
                        "documentationFormat": ["markdown", "plaintext"],
                        "deprecatedSupport": True,
                        "resolveSupport": {
                            "properties": ["documentation", "detail", "additionalTextEdits"]
                        },
                        "insertTextModeSupport": {"valueSet": [1, 2]},
                        "labelDetailsSupport": True,
                    },
                    "completionList": {"itemDefaults": ["editRange"]},
                },
                "inlineCompletion": {"dynamicRegistration": True},
                "hover": {"dynamicRegistration": True, "contentFormat": ["markdown", "plaintext"]},
                "codeLens": {"dynamicRegistration": True},
                "inlayHint": {"dynamicRegistration": True},
            },
            "window": {
                "workDoneProgress": True,
                "showDocument": {"support": True},
                "showMessage": {"messageActionItem": {"additionalPropertiesSupport": False}},
            },
        }
    )


def helix_capabilities() -> t.ClientCapabilities:
    """Helix 25.07's Client::initialize, the parts a server can see."""
    return _structure(
        {
            "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
            "workspace": {
                "configuration": True,
                "didChangeConfiguration": {"dynamicRegistration": False},
                "workspaceFolders": True,
                "applyEdit": True,
                "executeCommand": {"dynamicRegistration": False},
                "inlayHint": {"refreshSupport": False},
                "workspaceEdit": {
                    "documentChanges": True,
                    "resourceOperations": ["create", "rename", "delete"],
                    "failureHandling": "abort",
                    "normalizesLineEndings": False,
                },
                "didChangeWatchedFiles": {
                    "dynamicRegistration": True,
                    "relativePatternSupport": True,
                },
                "diagnostics": {"refreshSupport": True},
            },
            "textDocument": {
                "completion": {
                    "completionItem": {
                        "snippetSupport": True,
                        "resolveSupport": {
                            "properties": ["documentation", "detail", "additionalTextEdits"]
                        },
                        "insertReplaceSupport": True,
                        "deprecatedSupport": True,
                        "tagSupport": {"valueSet": [1]},
                    },
                    "completionItemKind": {},
                },
                "hover": {"contentFormat": ["markdown"]},
                "publishDiagnostics": {"versionSupport": True, "tagSupport": {"valueSet": [1, 2]}},
                "diagnostic": {"dynamicRegistration": False, "relatedDocumentSupport": True},
            },
            "window": {
                "showMessage": {"messageActionItem": {"additionalPropertiesSupport": True}},
                "workDoneProgress": True,
                "showDocument": {"support": True},
            },
        }
    )


def helix_config() -> dict[str, Any]:
    toml = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    return toml["language-server"]["safecoder"]["config"]


def lsp4ij_file(name: str) -> dict[str, Any]:
    return json.loads((EDITORS / "intellij" / "safecoder-lsp" / name).read_text())


@dataclass
class Flavour:
    name: str
    capabilities: Any  # a zero-argument factory: read at run time
    encoding: str
    inline: bool  # the client shows textDocument/inlineCompletion ghost text
    init_options: Any = None
    configuration: Any = None  # answered to workspace/configuration("safecoder")
    also_asks_inline: bool = False  # an editor plugin requests inline completions anyway
    extra: dict[str, Any] = field(default_factory=dict)


FLAVOURS = [
    Flavour("vscode", lambda: caps("vscode"), "utf-16", inline=True),
    Flavour(
        "neovim-0.11",
        lambda: client_capabilities("neovim@v0.11.0"),
        "utf-8",
        inline=False,
        also_asks_inline=True,
    ),
    Flavour(
        "intellij-lsp4ij",
        lsp4ij_capabilities,
        "utf-16",
        inline=True,
        init_options=lambda: lsp4ij_file("initializationOptions.json"),
        configuration=lambda: lsp4ij_file("settings.json")["safecoder"],
    ),
    Flavour(
        "helix",
        helix_capabilities,
        "utf-8",
        inline=False,
        init_options=helix_config,
        configuration=lambda: helix_config()["safecoder"],
    ),
    Flavour("emacs-eglot", lambda: client_capabilities("emacs@v29.1"), "utf-32", inline=False),
]


def _call(value: Any) -> Any:
    return value() if callable(value) else value


@pytest.mark.model
@pytest.mark.parametrize("flavour", FLAVOURS, ids=lambda f: f.name)
async def test_each_client_completes_after_non_ascii_text(clean_env, flavour: Flavour):
    capabilities = flavour.capabilities()
    assert (capabilities.text_document.inline_completion is not None) == flavour.inline
    async with session(
        clean_env,
        capabilities,
        init_options=_call(flavour.init_options),
        configuration=_call(flavour.configuration),
    ) as client:
        # The negotiated encoding is the one this client counts in.
        assert client.init_result.capabilities.position_encoding == flavour.encoding
        assert client.init_result.capabilities.inline_completion_provider
        assert client.init_result.capabilities.completion_provider

        uri = f"file:///w/flavour_{flavour.name.replace('-', '_').replace('.', '_')}.py"
        open_doc(client, uri, TEXT)
        # The user types "na" after the emoji: an incremental edit at the end of line 1.
        at = t.Position(line=LINE, character=units(TYPED_BEFORE, flavour.encoding))
        insert_text(client, uri, 2, at.line, at.character, TYPED)
        cursor = t.Position(line=LINE, character=units(TYPED_BEFORE + TYPED, flavour.encoding))

        if flavour.inline or flavour.also_asks_inline:
            items = await inline(client, uri, cursor.line, cursor.character)
            assert len(items) == 1, items
            # The model saw `... + na|`: it finishes the word.
            assert items[0].insert_text.startswith("me"), items[0].insert_text
            assert items[0].range == t.Range(start=cursor, end=cursor)

        completion = await client.text_document_completion_async(
            t.CompletionParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=cursor,
                context=t.CompletionContext(trigger_kind=t.CompletionTriggerKind.Invoked),
            )
        )
        assert isinstance(completion, t.CompletionList)
        if flavour.inline:
            # The ghost text is the suggestion; a popup item would show it twice.
            assert list(completion.items) == []
        else:
            assert len(completion.items) == 1, completion.items
            item = completion.items[0]
            # The item replaces the typed word "na": its range starts right after the
            # emoji, counted in this client's encoding, and ends at the cursor.
            assert item.text_edit.range == t.Range(start=at, end=cursor)
            assert item.text_edit.new_text.startswith("name"), item.text_edit.new_text
            assert item.filter_text.startswith(TYPED)
            assert item.label.startswith("name")
            assert item.command is not None and item.command.command == "safecoder.acceptCompletion"

        # The editor templates' settings are all accepted: no complaint was shown.
        problems = [
            m.message
            for m in client.messages
            if m.type in (t.MessageType.Error, t.MessageType.Warning)
        ]
        assert problems == []


def test_intellij_template_has_what_lsp4ij_reads():
    # Keys read by LSP4IJ's LanguageServerTemplateDeserializer / ServerTemplateJsonDeserializer.
    template = lsp4ij_file("template.json")
    assert template["id"] == "safecoder-lsp" and template["name"]
    assert set(template["programArgs"]) <= {"default", "unix", "mac", "windows"}
    for command in template["programArgs"].values():
        assert re.fullmatch(r"safecoder-lsp(\.exe)? serve --stdio", command)
    ids = {m["languageId"] for m in template["fileTypeMappings"]}
    assert {"python", "java", "kotlin", "javascript", "typescript", "go", "rust", "c", "cpp"} <= ids
    for mapping in template["fileTypeMappings"]:
        assert mapping["fileType"]["patterns"]
    assert "safecoder" in lsp4ij_file("settings.json")
    assert "safecoder" in lsp4ij_file("initializationOptions.json")


def test_helix_and_emacs_entries_start_the_server():
    toml = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    server = toml["language-server"]["safecoder"]
    assert server["args"] == ["serve", "--stdio"]
    languages = {lang["name"]: lang["language-servers"] for lang in toml["language"]}
    assert set(languages) >= {"python", "java", "kotlin", "javascript", "typescript", "go"}
    assert all(servers[-1] == "safecoder" and len(servers) > 1 for servers in languages.values())
    el = (EDITORS / "emacs" / "safecoder.el").read_text()
    assert '("safecoder-lsp" "serve" "--stdio")' in el
    assert "eglot-server-programs" in el and "(provide 'safecoder)" in el
