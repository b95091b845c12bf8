"""Embeddings, vector index, keyword index, hybrid search with filters, citations."""
