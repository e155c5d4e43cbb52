"""Pages of online services under /services/."""

from zhengtong.services.views import apply, inbox, items, workbench

app_name = "services"
urlpatterns: list = [
    *items.urlpatterns,
    *apply.urlpatterns,
    *workbench.urlpatterns,
    *inbox.urlpatterns,
]
