"""actions/subscriptions (being built)."""
