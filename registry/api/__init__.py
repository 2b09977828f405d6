"""The Ledgermark HTTP service (FastAPI): the same flows as the CLI, over HTTP."""
