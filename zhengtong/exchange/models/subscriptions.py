"""subscriptions (being built)."""
