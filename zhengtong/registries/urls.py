from django.urls import path

from zhengtong.registries import views

app_name = "registries"

urlpatterns = [
    path("", views.registry_list, name="list"),
    path("new/", views.define_registry, name="new"),
    path("imports/<int:job_id>/", views.import_job, name="import-job"),
    path("imports/<int:job_id>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:job_id>/rejected.csv", views.import_rejected, name="import-rejected"),
    path("<slug:code>/", views.registry_detail, name="detail"),
    path("<slug:code>/schema/", views.change_schema, name="schema"),
    path("<slug:code>/import/", views.start_import, name="import"),
    path("<slug:code>/records/<int:record_id>/history/", views.record_history, name="record-history"),
]
