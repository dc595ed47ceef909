"""Completion handlers: textDocument/inlineCompletion (primary) and
textDocument/completion (the fallback for clients without inline completion: one
popup item that replaces the word before the cursor with word + suggestion)."""

from __future__ import annotations

import re

from lsprotocol import types as t

from safecoder_lsp import references
from safecoder_lsp.completion.service import CompletionResult
from safecoder_lsp.documents import Document
from safecoder_lsp.lsp.commands import accept_command_for
from safecoder_lsp.lsp.server import SafecoderServer

TRIGGER_CHARACTERS = [".", "(", " ", "=", ":", ","]
LABEL_CHARS = 80
_WORD_TAIL = re.compile(r"[\w$]+$")


def register(server: SafecoderServer) -> None:
    @server.feature(t.TEXT_DOCUMENT_INLINE_COMPLETION, t.InlineCompletionOptions())
    async def inline_completion(
        ls: SafecoderServer, params: t.InlineCompletionParams
    ) -> t.InlineCompletionList:
        pos = params.position
        doc, offset = ls.locate(params.text_document.uri, pos.line, pos.character)
        invoked = params.context.trigger_kind == t.InlineCompletionTriggerKind.Invoked
        result = await ls.complete(doc, offset, invoked)
        if result is None or not result.text:
            return t.InlineCompletionList(items=[])
        item = t.InlineCompletionItem(
            insert_text=result.text,
            range=t.Range(start=pos, end=pos),
            command=accept_command_for(
                result.request_id, references.as_json(result.references, len(result.text))
            ),
        )
        return t.InlineCompletionList(items=[item])

    @server.feature(
        t.TEXT_DOCUMENT_COMPLETION,
        t.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS),
    )
    async def completion(ls: SafecoderServer, params: t.CompletionParams) -> t.CompletionList:
        caps = ls.client_capabilities.text_document
        if (caps is not None and caps.inline_completion is not None) or ls.llmls_client:
            # The client shows inline suggestions (natively, or a Hugging Face plugin
            # through llm-ls/getCompletions): a popup item would duplicate them.
            return t.CompletionList(is_incomplete=False, items=[])
        pos = params.position
        doc, offset = ls.locate(params.text_document.uri, pos.line, pos.character)
        invoked = (
            params.context is None or params.context.trigger_kind == t.CompletionTriggerKind.Invoked
        )
        result = await ls.complete(doc, offset, invoked)
        if result is None or not result.text:
            return t.CompletionList(is_incomplete=True, items=[])
        return t.CompletionList(
            is_incomplete=True, items=[completion_item(doc, offset, pos, result, ls)]
        )


def completion_item(
    doc: Document, offset: int, pos: t.Position, result: CompletionResult, ls: SafecoderServer
) -> t.CompletionItem:
    """The popup item for ``result``: it replaces the word before the cursor."""
    line, _ = doc.position_at(offset, "utf-32")
    line_start = doc.line_span(line)[0]
    match = _WORD_TAIL.search(doc.text[line_start:offset])
    word = match.group(0) if match else ""
    start_line, start_char = doc.position_at(offset - len(word), ls.encoding)
    first = result.text.splitlines()[0] if result.text.strip() else result.text
    label = (word + first).strip() or result.text.strip()
    return t.CompletionItem(
        label=label[:LABEL_CHARS],
        kind=t.CompletionItemKind.Snippet,
        detail="safecoder",
        documentation=_documentation(ls, doc.language_id, word + result.text),
        filter_text=word + result.text,
        sort_text="0",
        insert_text_format=t.InsertTextFormat.PlainText,
        text_edit=t.TextEdit(
            range=t.Range(start=t.Position(line=start_line, character=start_char), end=pos),
            new_text=word + result.text,
        ),
        command=accept_command_for(
            result.request_id,
            references.as_json(result.references, len(result.text), base_offset=len(word)),
        ),
        data={"request_id": result.request_id},
    )


def _documentation(ls: SafecoderServer, language: str, code: str) -> t.MarkupContent | str:
    """The suggestion as a Markdown code block when the client shows Markdown, else
    plain text (Helix and Eglot ask for no format: plain text)."""
    caps = ls.client_capabilities.text_document
    item = caps.completion.completion_item if caps and caps.completion else None
    if item is not None and t.MarkupKind.Markdown in (item.documentation_format or []):
        return t.MarkupContent(kind=t.MarkupKind.Markdown, value=f"```{language}\n{code}\n```")
    return code
