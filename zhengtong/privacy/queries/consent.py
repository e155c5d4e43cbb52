"""consent (being built)."""
