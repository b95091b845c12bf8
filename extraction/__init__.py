"""Extraction: QTA gap review against a playbook and investigation triage, by rules or by an LLM."""
