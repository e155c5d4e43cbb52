"""accesses pages (being built)."""

urlpatterns: list = []
