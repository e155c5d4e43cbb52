"""The audit trail in Django's admin, read-only.

Entries and tree heads cannot be changed by anyone (the database refuses it); alerts are acknowledged on the
auditor's alerts page, which records who did it. Searches here use only indexed columns, and lists never
count the whole log.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import (
    AnomalyAlert,
    ArchiveBatch,
    AuditEntry,
    SequencerStatus,
    SigningKeyRecord,
    TreeHead,
)
from zhengtong.core.admin import ReadOnly


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "occurred_at", "actor_kind", "actor_name", "actor_department", "action", "object_type",
                    "object_id", "result"]
    list_filter = ["actor_kind", "result"]
    # "=" exact and "^" prefix matches, which the indexes answer; the subject hash page is the auditor's search.
    search_fields = ["=actor_id", "=actor_department", "^action"]
    show_full_result_count = False
    list_per_page = 50


@admin.register(TreeHead)
class TreeHeadAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["tree_size", "timestamp", "root_hash_hex", "hash_algorithm", "signature_algorithm", "key_id"]
    fields = readonly_fields = ("tree_size", "timestamp", "root_hash_hex", "hash_algorithm", "signature_algorithm",
                                "key_id", "signature_hex")
    show_full_result_count = False

    @admin.display(description=_("root hash"))
    def root_hash_hex(self, obj: TreeHead) -> str:
        return bytes(obj.root_hash).hex()

    @admin.display(description=_("signature"))
    def signature_hex(self, obj: TreeHead) -> str:
        return bytes(obj.signature).hex()


@admin.register(SigningKeyRecord)
class SigningKeyRecordAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["key_id", "algorithm", "first_used_at"]
    fields = readonly_fields = ("key_id", "algorithm", "public_key_hex", "first_used_at")

    @admin.display(description=_("public key"))
    def public_key_hex(self, obj: SigningKeyRecord) -> str:
        return bytes(obj.public_key).hex()


@admin.register(SequencerStatus)
class SequencerStatusAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["id", "heartbeat_at", "tree_size"]


@admin.register(ArchiveBatch)
class ArchiveBatchAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["archived_at", "last_entry_id", "last_leaf_index", "tree_size", "file_name", "file_digest"]


@admin.register(AnomalyAlert)
class AnomalyAlertAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["raised_at", "rule", "actor_name", "actor_department", "window_start", "window_end",
                    "observed", "threshold", "acknowledged_at", "acknowledged_by"]
    list_filter = ["rule", ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["=actor_id", "actor_name"]
