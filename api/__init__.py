"""FastAPI app, CLI: thin layers over the same library calls."""
