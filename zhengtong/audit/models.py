"""The audit trail: append-only entries, their place in a Merkle tree, and signed tree heads.

Entries are written by zhengtong.audit.actions.record in the transaction of the change they record. The
sequencer (zhengtong.audit.sequencer, run by `zhengtong worker`) gives each committed entry a leaf in the tree
and signs tree heads. The database refuses UPDATE and DELETE on every table here (triggers, see migrations),
except the deletion of entries already archived and older than the retention period.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ActorKind(models.TextChoices):
    STAFF = "staff", _("staff")
    CITIZEN = "citizen", _("citizen")
    API_CLIENT = "api_client", _("API client")
    SYSTEM = "system", _("system")
    ANONYMOUS = "anonymous", _("anonymous")


class Result(models.TextChoices):
    OK = "ok", _("done")
    DENIED = "denied", _("refused")
    FAILED = "failed", _("failed")


class AuditEntry(models.Model):
    """One action or one read of personal data. Actors are plain values, so the log outlives any account."""

    occurred_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor_kind = models.CharField(_("actor kind"), max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(_("actor id"), max_length=64, blank=True, db_index=True)
    actor_name = models.CharField(_("actor"), max_length=200, blank=True)
    actor_department = models.CharField(_("department"), max_length=32, blank=True, db_index=True)
    actor_roles = models.CharField(_("roles"), max_length=200, blank=True)
    on_behalf_of = models.CharField(_("on behalf of"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_id = models.CharField(_("object id"), max_length=100, blank=True)
    # Keyed hashes (hex) of the data subjects' identity numbers; see zhengtong.audit.subjects.
    subjects = models.JSONField(_("data subjects"), default=list, blank=True)
    fields = models.JSONField(_("fields revealed"), default=list, blank=True)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    legal_basis = models.CharField(_("legal basis"), max_length=200, blank=True)
    case_reference = models.CharField(_("case reference"), max_length=100, blank=True)
    result = models.CharField(_("result"), max_length=8, choices=Result.choices, default=Result.OK)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    client_address = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"]), models.Index(fields=["actor_name"])]
        permissions = [("export_auditentry", _("Can export audit entries"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.actor_name}"


class AuditSubject(models.Model):
    """A data subject of an entry, by keyed hash, so auditors can find every entry about one person."""

    entry = models.ForeignKey(AuditEntry, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    subject_hash = models.CharField(max_length=64, db_index=True)

    class Meta:
        verbose_name = _("audit data subject")
        verbose_name_plural = _("audit data subjects")

    def __str__(self) -> str:
        return self.subject_hash


class AuditLeaf(models.Model):
    """The entry's place in the Merkle tree: leaf `index` holds the hash of the entry's canonical form."""

    index = models.BigIntegerField(primary_key=True)
    entry = models.OneToOneField(AuditEntry, on_delete=models.DO_NOTHING, related_name="leaf", db_constraint=False)
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = _("audit tree leaf")
        verbose_name_plural = _("audit tree leaves")

    def __str__(self) -> str:
        return f"leaf {self.index}"


class MerkleNode(models.Model):
    """The hash of a complete subtree: level k, index i covers leaves [i·2^k, (i+1)·2^k). Level 0 is in AuditLeaf."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = _("Merkle tree node")
        verbose_name_plural = _("Merkle tree nodes")
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_node_position")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class TreeHead(models.Model):
    """A signed statement of the tree: its size, root hash and time."""

    tree_size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    timestamp = models.DateTimeField()
    hash_algorithm = models.CharField(max_length=16)
    signature_algorithm = models.CharField(max_length=16)
    key_id = models.CharField(max_length=64)
    signature = models.BinaryField(max_length=128)

    class Meta:
        verbose_name = _("signed tree head")
        verbose_name_plural = _("signed tree heads")
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"tree head {self.tree_size}"


class SigningKeyRecord(models.Model):
    """Public keys that have signed tree heads, so heads stay verifiable after a key changes."""

    key_id = models.CharField(max_length=64, primary_key=True)
    algorithm = models.CharField(max_length=16)
    public_key = models.BinaryField(max_length=128)
    first_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")

    def __str__(self) -> str:
        return f"{self.algorithm} {self.key_id}"


class SequencerStatus(models.Model):
    """The sequencer's heartbeat, so pages can tell whether proofs are being kept current (not append-only)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    heartbeat_at = models.DateTimeField()
    tree_size = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("sequencer status")
        verbose_name_plural = _("sequencer status")

    def __str__(self) -> str:
        return f"sequencer at {self.heartbeat_at:%Y-%m-%d %H:%M:%S}"


class ArchiveBatch(models.Model):
    """Entries up to `last_entry_id` written to an archive file; only then may the database delete them."""

    last_entry_id = models.BigIntegerField()
    last_leaf_index = models.BigIntegerField()
    file_name = models.CharField(max_length=300)
    file_digest = models.CharField(max_length=64)
    tree_size = models.BigIntegerField()
    archived_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("audit archive")
        verbose_name_plural = _("audit archives")
        ordering = ["-last_entry_id"]

    def __str__(self) -> str:
        return self.file_name


class AlertRule(models.TextChoices):
    MANY_SUBJECTS = "many_subjects", _("read many people in an hour")
    OFF_HOURS = "off_hours", _("read personal data outside working hours")
    REVEAL_WITHOUT_CASE = "reveal_without_case", _("revealed unmasked data without a case reference")


class AnomalyAlert(models.Model):
    """An anomaly found in the trail, for auditors to follow up. Alerts may be acknowledged; entries may not."""

    rule = models.CharField(_("rule"), max_length=32, choices=AlertRule.choices)
    raised_at = models.DateTimeField(_("raised at"), default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64)
    actor_name = models.CharField(_("actor"), max_length=200)
    actor_department = models.CharField(_("department"), max_length=32, blank=True)
    window_start = models.DateTimeField(_("from"))
    window_end = models.DateTimeField(_("to"))
    observed = models.PositiveIntegerField(_("observed"))
    threshold = models.PositiveIntegerField(_("threshold"))
    first_entry_id = models.BigIntegerField()
    last_entry_id = models.BigIntegerField()
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.CharField(_("acknowledged by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("anomaly alert")
        verbose_name_plural = _("anomaly alerts")
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "actor_kind", "actor_id", "window_start"],
                                    name="audit_alert_once_per_window"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.actor_name}"
