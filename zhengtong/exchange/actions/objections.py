"""actions/objections (being built)."""
