"""objections pages (being built)."""

urlpatterns: list = []
