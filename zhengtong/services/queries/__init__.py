"""Reads that carry rules, one module per area."""
