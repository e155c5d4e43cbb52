from django.urls import path

from zhengtong.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.search, name="search"),
    path("entries/<int:entry_id>/", views.entry_detail, name="entry"),
    path("export.csv", views.export_csv, name="export"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/acknowledge/", views.acknowledge, name="acknowledge-alert"),
]
