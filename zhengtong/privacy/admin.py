"""The privacy center in the Django admin, read-only: every change to a policy, agreement, consent, notice, hidden
access, objection or correction is an action with its permission check and audit entry, made on the pages or
through the APIs. Values citizens asked for are left out: they are personal data."""

from django.contrib import admin

from zhengtong.core.admin import ReadOnly
from zhengtong.privacy.models import (
    Consent,
    CorrectionRequest,
    DataAgreement,
    HiddenAccess,
    Individual,
    NoticeAcceptance,
    NoticeVersion,
    Objection,
    Policy,
    Revision,
    Signature,
)


@admin.register(Policy)
class PolicyAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "version", "url", "data_retention_days", "deleted_at"]
    search_fields = ["name", "public_id"]


@admin.register(DataAgreement)
class DataAgreementAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["purpose", "resource", "consumer", "lawful_basis", "version", "active", "deleted_at"]
    list_filter = ["lawful_basis", "active"]
    search_fields = ["purpose", "public_id", "resource__code", "resource__name", "consumer__code"]
    list_select_related = ["resource", "consumer"]


@admin.register(Individual)
class IndividualAdmin(ReadOnly, admin.ModelAdmin):
    # The citizen is shown masked (Citizen.__str__); the resident ID only as its keyed hash.
    list_display = ["public_id", "citizen", "created_at"]
    search_fields = ["public_id", "subject_hash"]


class SignatureInline(ReadOnly, admin.TabularInline):
    model = Signature
    fields = ["timestamp", "verification_method", "verification_signed_by", "verification_signed_as"]


@admin.register(Consent)
class ConsentAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["public_id", "agreement", "agreement_version", "opt_in", "state", "given_at", "expires_at",
                    "withdrawn_at"]
    list_filter = ["opt_in", "state"]
    search_fields = ["public_id", "agreement__public_id", "individual__public_id"]
    list_select_related = ["agreement"]
    inlines = [SignatureInline]


@admin.register(Revision)
class RevisionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["schema_name", "object_id", "timestamp", "authorized_by_other", "serialized_hash"]
    list_filter = ["schema_name"]
    search_fields = ["object_id", "public_id", "serialized_hash"]


@admin.register(NoticeVersion)
class NoticeVersionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["kind", "version", "title", "effective_on", "published_at", "published_by_name"]
    list_filter = ["kind"]


@admin.register(NoticeAcceptance)
class NoticeAcceptanceAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["notice", "user", "accepted_at"]
    list_select_related = ["notice", "user"]


@admin.register(HiddenAccess)
class HiddenAccessAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["entry", "hidden_until", "case_reference", "hidden_by_name", "hidden_by_department", "hidden_at"]
    search_fields = ["case_reference", "hidden_by_name"]


@admin.register(Objection)
class ObjectionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "accessor_department_name", "access_purpose", "status", "due", "submitted_at"]
    list_filter = ["status"]
    search_fields = ["number"]


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["number", "registry", "provider", "field_label", "status", "due", "submitted_at"]
    list_filter = ["status"]
    search_fields = ["number"]
    exclude = ["requested_value"]
    list_select_related = ["registry", "provider"]
