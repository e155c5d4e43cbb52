"""cases pages (being built)."""

urlpatterns: list = []
