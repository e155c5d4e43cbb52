"""usage (being built)."""
