"""The team endpoint: ``safecoder-lsp endpoint serve``.

The embedded llama.cpp engine served over HTTP to the safecoder-lsp clients of a
team, in the OpenAI completions format (``POST /v1/completions``), behind hashed API
tokens, per-token rate limits, a bounded fair queue and optional (mutual) TLS.

Modules, one job each:

- ``backend``: the interface the server schedules requests through;
- ``backends``: which backend serves, built from the configuration (the batched
  engine and its weights for several slots, else ``serial``);
- ``serial``: that interface over any ordinary engine, one request at a time, with a
  queue that is fair between users;
- ``tokens``: the hashed API tokens file (add / list / revoke, reloaded on change);
- ``ratelimit``: per-token token buckets;
- ``metrics``: counters and histograms in the Prometheus text format;
- ``schema``: the OpenAI request fields, checked, and the answers' shapes;
- ``watch``: noticing clients that closed their connection while they wait;
- ``judge``: attribution of generated text on one thread that owns the index;
- ``tls``: the server's TLS context, with clear errors;
- ``server``: the HTTP server and its routes.
"""
