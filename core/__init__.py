"""Domain records, settings and persistence. Imports nothing else of ours."""
