"""safecoder-lsp: a self-hosted, air-gapped code completion language server."""

__version__ = "0.1.0"
