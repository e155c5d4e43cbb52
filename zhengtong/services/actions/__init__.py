"""Every state change of online services, as named verbs, one module per area."""
