"""Sharing in the Django admin, read-only: every change to a request, grant, consent, subscription or objection is
an action with its permission check and audit entry, made on the sharing pages or through the API. Values people
proposed and payloads of events are left out of the lists: they can hold personal data."""

from django.contrib import admin

from zhengtong.core.admin import ReadOnly
from zhengtong.exchange.models import (
    ConsentRecord,
    DataObjection,
    Event,
    Grant,
    GrantUsage,
    SharingRequest,
    Subscription,
    Upstream,
    UsageDay,
)


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


@admin.register(Upstream)
class UpstreamAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["origin", "state", "consecutive_failures", "calls", "failures", "timeouts", "retries",
                    "last_error_code", "last_error_at", "last_success_at"]
    list_filter = ["state"]
    search_fields = ["origin"]


@admin.register(UsageDay)
class UsageDayAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["day", "resource", "consumer", "provider", "outcome", "reason", "calls"]
    list_filter = ["outcome", "reason"]
    search_fields = ["resource__code", "resource__name", "consumer__code", "provider__code"]
    list_select_related = ["resource", "consumer", "provider"]
    date_hierarchy = "day"


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "resource", "consumer", "mode", "status", "held_because", "last_sequence",
                    "acknowledged_sequence", "created_at"]
    list_filter = ["mode", "status"]
    search_fields = ["number", "resource__code", "consumer__code"]
    list_select_related = ["resource", "consumer"]


@admin.register(Event)
class EventAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["subscription", "sequence", "action", "status", "attempts", "next_attempt_at",
                    "last_status_code", "delivered_at", "dead_at"]
    list_filter = ["status", "action"]
    exclude = ["payload"]
    list_select_related = ["subscription"]


@admin.register(DataObjection)
class DataObjectionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "resource", "consumer", "field", "status", "answer_due", "settle_due", "raised_at"]
    list_filter = ["status"]
    search_fields = ["number", "resource__code", "consumer__code"]
    exclude = ["proposed_value"]
    list_select_related = ["resource", "consumer"]
