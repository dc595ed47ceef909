"""Repository context: code from other files that helps complete the current one.

Pure code, no LSP types. Sources (other open and recently edited documents, and
workspace files read from disk in the background) are cut into chunks; the chunks
most similar to the code before the cursor, and the definitions of names used near
it, are chosen within a token budget; the choice is laid out in the model's
repository format (or as comments) and kept per document as a snapshot that stays
byte-identical across keystrokes, so the engine's KV cache survives typing.
"""
