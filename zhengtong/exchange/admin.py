"""Sharing in the Django admin, read-only: every change to a request, grant or consent is an action with its
permission check and audit entry, made on the sharing pages or through the API."""

from django.contrib import admin

from zhengtong.core.admin import ReadOnly
from zhengtong.exchange.models import ConsentRecord, Grant, GrantUsage, SharingRequest


@admin.register(SharingRequest)
class SharingRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "resource", "consumer", "status", "check_due", "answer_due", "settle_due",
                    "submitted_at"]
    list_filter = ["status", "basis", "refused_by"]
    search_fields = ["number", "resource__name", "resource__code", "consumer__name", "consumer__code"]
    list_select_related = ["resource", "consumer"]
    date_hierarchy = "submitted_at"


class GrantUsageInline(ReadOnly, admin.TabularInline):
    model = GrantUsage
    fields = ["slot", "calls"]
    ordering = ["-slot"]


@admin.register(Grant)
class GrantAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "resource", "consumer", "status", "masking_level", "valid_from", "valid_until",
                    "daily_quota", "rate_per_minute"]
    list_filter = ["status", "masking_level", "basis", "may_write"]
    search_fields = ["number", "resource__name", "resource__code", "consumer__name", "consumer__code"]
    list_select_related = ["resource", "consumer"]
    inlines = [GrantUsageInline]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnly, admin.ModelAdmin):
    # The subject is kept only as the audit trail's keyed hash, never the ID number.
    list_display = ["resource", "consumer", "purpose", "given_at", "expires_at", "withdrawn_at"]
    list_filter = ["withdrawn_at"]
    search_fields = ["subject_hash", "purpose", "consumer__code", "resource__code"]
    list_select_related = ["resource", "consumer"]
