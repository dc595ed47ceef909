"""``python -m safecoder_lsp.config``: print the configuration reference."""

from safecoder_lsp.config import main

raise SystemExit(main())
