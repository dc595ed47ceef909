"""Document sync handlers: textDocument/didOpen, didChange (full and incremental)
and didClose. The text is kept by ``safecoder_lsp.documents.DocumentStore``."""

from __future__ import annotations

from lsprotocol import types as t

from safecoder_lsp.documents import DocumentError
from safecoder_lsp.lsp.server import SafecoderServer


def register(server: SafecoderServer) -> None:
    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SafecoderServer, params: t.DidOpenTextDocumentParams) -> None:
        d = params.text_document
        doc = ls.documents.open(d.uri, d.text, d.version, d.language_id)
        ls.edited(d.uri)
        if ls.service is not None and ls.config.completion.enabled:
            ls.service.warm_opened(doc)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SafecoderServer, params: t.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        line: int | None = None
        try:
            doc = ls.documents.get(uri)
            end: int | None = None  # where the last edit ends
            for change in params.content_changes:
                if isinstance(change, t.TextDocumentContentChangePartial):
                    r = change.range
                    line = r.start.line
                    doc.replace(
                        (r.start.line, r.start.character),
                        (r.end.line, r.end.character),
                        change.text,
                        ls.encoding,
                    )
                    start = doc.offset_at(r.start.line, r.start.character, ls.encoding)
                    end = start + len(change.text)
                else:
                    doc.set_text(change.text)
                    end = None
            doc.version = params.text_document.version
            ls.edited(uri, line)
            if end is not None and ls.service is not None and ls.config.completion.enabled:
                ls.service.warm_edited(doc, end)
        except DocumentError as exc:
            ls.documents.close(uri)
            ls.tell(f"lost track of {uri}: {exc}. Close and reopen the file to resume completions.")

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SafecoderServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.close_document(params.text_document.uri)
