"""The language server (split into modules by concern in the next commit)."""
