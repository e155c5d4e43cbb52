"""Registries and imports in the Django admin, read-only: definitions change through the actions (the staff
pages, the API, `zhengtong` commands), which check permission and write the audit entry. Key material, record
values and uploaded files are not shown."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from zhengtong.core.admin import ReadOnly
from zhengtong.registries.models import DataKey, ImportJob, Registry, RegistryField


class RegistryFieldInline(ReadOnly, admin.TabularInline):
    model = RegistryField
    fields = readonly_fields = ("position", "name", "type", "label", "label_en", "required", "is_key", "unique",
                                "indexed", "validator", "pattern", "sensitivity", "grade", "level", "masking",
                                "encrypted")
    ordering = ["position"]
    extra = 0


class DataKeyInline(ReadOnly, admin.TabularInline):
    model = DataKey
    fields = readonly_fields = ("version", "cipher", "kek_id", "created_at", "retired_at")
    ordering = ["version"]
    extra = 0


@admin.register(Registry)
class RegistryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["code", "name", "department", "is_base", "schema_version", "updated_at"]
    list_filter = ["is_base", "department"]
    search_fields = ["code", "name", "name_en"]
    list_select_related = ["department"]
    fields = readonly_fields = ("code", "name", "name_en", "description", "department", "is_base", "schema_version",
                                "index_suite", "kek_id", "created_at", "updated_at")
    inlines = [RegistryFieldInline, DataKeyInline]


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "registry", "file_name", "status", "quarantine", "rows_done", "rows_total", "created",
                    "updated", "rejected", "requested_by", "created_at", "finished_at"]
    list_filter = ["status", "quarantine", "registry"]
    search_fields = ["file_name", "registry__code"]
    list_select_related = ["registry", "requested_by"]
    # The uploaded file itself is left out: it holds the rows, personal data included.
    fields = readonly_fields = ("registry", "file_name", "file_format", "file_digest", "quarantine", "status",
                                "rows_total", "rows_done", "created", "updated", "rejected", "problems", "message",
                                "requested_by", "created_at", "finished_at")
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportJob]:
        return super().get_queryset(request).select_related("registry", "requested_by")

