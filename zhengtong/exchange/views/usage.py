"""usage pages (being built)."""

urlpatterns: list = []
