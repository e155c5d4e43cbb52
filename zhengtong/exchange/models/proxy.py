"""proxy (being built)."""
