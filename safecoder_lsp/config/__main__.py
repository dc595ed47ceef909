"""``python -m safecoder_lsp.config``: print the configuration reference."""

from safecoder_lsp.config.docs import main

raise SystemExit(main())
