"""subscriptions pages (being built)."""

urlpatterns: list = []
