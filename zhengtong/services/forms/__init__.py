"""Forms of online services, one module per area."""
