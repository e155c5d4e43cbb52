"""Online services in the Django admin, read-only: items are defined, processes uploaded, applications decided
and tasks worked through actions with their permission checks and audit entries, on the pages or through the
APIs. What applicants answered and the messages sent to them are left out: they are personal data."""

from django.contrib import admin

from zhengtong.core.admin import ReadOnly
from zhengtong.services.models import (
    Application,
    ClockPause,
    DecisionDefinition,
    Material,
    ProcessDefinition,
    ServiceItem,
    WorkTask,
)


class MaterialInline(ReadOnly, admin.TabularInline):
    model = Material
    fields = ["position", "code", "name", "required", "source", "source_registry", "source_field", "source_item",
              "commitment_allowed"]


@admin.register(ServiceItem)
class ServiceItemAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["code", "name", "item_type", "status", "responsible_department", "promised_days",
                    "statutory_days", "process", "updated_at"]
    list_filter = ["status", "item_type"]
    search_fields = ["code", "name", "keywords"]
    list_select_related = ["responsible_department", "process"]
    exclude = ["form"]  # shown as a table on the item's staff page
    inlines = [MaterialInline]


@admin.register(ProcessDefinition)
class ProcessDefinitionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["key", "version", "name", "uploaded_at", "uploaded_by_name"]
    search_fields = ["key", "name"]
    exclude = ["bpmn_xml"]


@admin.register(DecisionDefinition)
class DecisionDefinitionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["key", "version", "name", "uploaded_at", "uploaded_by_name"]
    search_fields = ["key", "name"]
    exclude = ["dmn_xml"]


class ClockPauseInline(ReadOnly, admin.TabularInline):
    model = ClockPause
    fields = ["started_on", "ended_on", "reason"]


@admin.register(Application)
class ApplicationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["reference", "item", "status", "submitted_at", "due", "decided_at"]
    list_filter = ["status"]
    search_fields = ["reference", "item__code"]
    list_select_related = ["item"]
    fields = ["reference", "item", "status", "created_at", "submitted_at", "due", "decided_at", "result_number",
              "process"]
    inlines = [ClockPauseInline]


@admin.register(WorkTask)
class WorkTaskAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "application", "department", "role", "status", "due", "completed_at", "outcome"]
    list_filter = ["status", "kind", "outcome"]
    search_fields = ["application__reference", "name"]
    list_select_related = ["application", "department"]
    fields = ["application", "kind", "element_id", "name", "department", "role", "status", "created_at", "due",
              "completed_at", "completed_by_name", "outcome"]
