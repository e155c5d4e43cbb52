"""objections (being built)."""
