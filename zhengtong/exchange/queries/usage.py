"""queries/usage (being built)."""
