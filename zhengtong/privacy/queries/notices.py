"""notices (being built)."""
