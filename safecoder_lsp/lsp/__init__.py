"""The language server: ``server`` holds its state and public methods, ``app``
creates it with the handlers of every module here registered (one module per concern:
``lifecycle``, ``configuration``, ``documents``, ``completion``, ``llmls``,
``commands``); ``plugins`` keeps the endpoints Hugging Face plugins name and
``protocol`` adjusts pygls's JSON-RPC handling.

Handlers are thin: they convert LSP types and call pure code (``safecoder_lsp.llmls``,
``safecoder_lsp.references``, the completion service) or the server's public methods.
"""
