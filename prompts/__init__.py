"""Prompts and review playbooks, as versioned files."""
