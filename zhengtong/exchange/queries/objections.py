"""queries/objections (being built)."""
