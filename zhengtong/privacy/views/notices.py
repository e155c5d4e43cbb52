"""notices pages (being built)."""

urlpatterns: list = []
