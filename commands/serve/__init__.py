"""The control plane: an HTTP API and a live dashboard over one `.loki/` (the `[serve]` extra).

Only :mod:`commands.serve.tokens` and :mod:`commands.serve.token_store` import without the
extra (they back `lokilog token`); everything else needs FastAPI, uvicorn and sse-starlette.
"""
