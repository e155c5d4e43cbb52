"""cases (being built)."""
