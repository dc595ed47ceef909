from safecoder_lsp.cli import main

raise SystemExit(main())
