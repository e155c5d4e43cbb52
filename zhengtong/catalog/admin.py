"""The catalog in the Django admin, read-only: every change is an action with its permission check, its audit
entry and (for rights) its signed certificate, made on the catalog's own pages or through the API."""

from django.contrib import admin

from zhengtong.catalog.models import (
    DataItem,
    Resource,
    RightHolder,
    RightsCertificate,
    RightsDispute,
    RightsRegistration,
)
from zhengtong.core.admin import ReadOnly


class DataItemInline(ReadOnly, admin.TabularInline):
    model = DataItem
    fields = ["name", "label", "type", "sensitivity", "grade", "level", "masking", "encrypted"]


@admin.register(Resource)
class ResourceAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["code", "name", "provider", "kind", "status", "sharing_type", "opening_type", "grade", "level"]
    list_filter = ["status", "kind", "sharing_type", "opening_type", "grade", "level"]
    search_fields = ["code", "name", "summary"]
    list_select_related = ["provider"]
    inlines = [DataItemInline]


class RightHolderInline(ReadOnly, admin.TabularInline):
    model = RightHolder
    fields = ["right", "name", "credit_code", "department"]


class RightsCertificateInline(ReadOnly, admin.TabularInline):
    model = RightsCertificate
    fields = ["version", "algorithm", "key_id", "issued_at", "superseded_at"]


class RightsDisputeInline(ReadOnly, admin.TabularInline):
    model = RightsDispute
    fields = ["raised_at", "raised_by_name", "reason", "settled_at", "settled_by_name", "settlement"]


@admin.register(RightsRegistration)
class RightsRegistrationAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "resource_code", "resource_name", "holder_name", "version", "registered_at"]
    search_fields = ["number", "resource_code", "resource_name", "holder_name"]
    inlines = [RightHolderInline, RightsCertificateInline, RightsDisputeInline]
