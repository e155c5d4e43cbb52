"""accesses (being built)."""
