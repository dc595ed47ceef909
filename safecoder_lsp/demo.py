"""A tiny LSP client that shows the server working end to end (``make demo``).

It starts ``safecoder-lsp serve`` over stdio, opens a sample file, asks for an
inline completion where a developer would stop typing, and prints the suggestion
with its latency.
"""

from __future__ import annotations

import asyncio
import sys
import time

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

SAMPLE = '''import math


def area_of_circle(radius: float) -> float:
    """Return the area of a circle with the given radius."""
    return '''

SAMPLE_TAIL = """


def main() -> None:
    print(area_of_circle(2.0))
"""


async def run() -> int:
    client = LanguageClient("safecoder-demo", "0.1")
    messages: list[str] = []

    @client.feature(t.WINDOW_SHOW_MESSAGE)
    def show_message(params: t.ShowMessageParams) -> None:
        messages.append(params.message)
        print(f"[server] {params.message}", file=sys.stderr)

    await client.start_io(sys.executable, "-m", "safecoder_lsp", "serve", "--stdio")
    try:
        await client.initialize_async(
            t.InitializeParams(
                capabilities=t.ClientCapabilities(
                    general=t.GeneralClientCapabilities(
                        position_encodings=[t.PositionEncodingKind.Utf16]
                    ),
                    text_document=t.TextDocumentClientCapabilities(
                        inline_completion=t.InlineCompletionClientCapabilities()
                    ),
                )
            )
        )
        client.initialized(t.InitializedParams())
        uri = "file:///demo/geometry.py"
        text = SAMPLE + SAMPLE_TAIL
        client.text_document_did_open(
            t.DidOpenTextDocumentParams(
                text_document=t.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )
        lines = SAMPLE.split("\n")
        position = t.Position(line=len(lines) - 1, character=len(lines[-1]))

        async def ask() -> tuple[str, float]:
            started = time.perf_counter()
            result = await client.text_document_inline_completion_async(
                t.InlineCompletionParams(
                    text_document=t.TextDocumentIdentifier(uri=uri),
                    position=position,
                    context=t.InlineCompletionContext(
                        trigger_kind=t.InlineCompletionTriggerKind.Automatic
                    ),
                )
            )
            elapsed = (time.perf_counter() - started) * 1000
            items = result.items if isinstance(result, t.InlineCompletionList) else result or []
            return (items[0].insert_text if items else ""), elapsed

        first, first_ms = await ask()  # includes the model load
        again, again_ms = await ask()  # the same place again: served from the cache
        print("---- file (cursor at |) ----")
        print(SAMPLE + "|" + SAMPLE_TAIL.rstrip())
        print("---- suggestion ----")
        print(first if first else "(no suggestion)")
        print("----")
        print(f"first request (model load + generation): {first_ms:.0f} ms")
        print(f"same request again (cache): {again_ms:.1f} ms")
        if not first or again != first:
            print("demo failed: no suggestion came back", file=sys.stderr)
            return 1
        return 0
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    raise SystemExit(main())
