"""Schema-defined registries: a registry declares its fields; records hold values by field name.

Values live in one JSON document per record, keyed by field name. A field marked encrypted holds the
suite's AEAD ciphertext instead (see registries.keys); its plain value never reaches the database. The record's
key (one or more key fields) is kept in `key_value`, in clear for plain keys and as a keyed blind index for
encrypted ones, so exact lookups use a b-tree index either way.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from zhengtong.identity.models import Department, ScopePaths


class FieldType(models.TextChoices):
    TEXT = "text", _("text")
    INTEGER = "integer", _("integer")
    DECIMAL = "decimal", _("decimal")
    DATE = "date", _("date")
    DATETIME = "datetime", _("date and time")
    BOOLEAN = "boolean", _("yes or no")
    ENUMERATION = "enumeration", _("enumeration")
    POINT = "point", _("geographic point")
    GEOMETRY = "geometry", _("GeoJSON geometry")
    FILE = "file", _("file")


class Validator(models.TextChoices):
    NONE = "", _("none")
    RESIDENT_ID = "resident_id", _("resident ID number")
    CREDIT_CODE = "credit_code", _("unified social credit code")
    DIVISION_CODE = "division_code", _("administrative division code")
    PHONE = "phone", _("mobile phone number")
    PATTERN = "pattern", _("pattern (regular expression)")


class Sensitivity(models.TextChoices):
    PUBLIC = "public", _("public")
    INTERNAL = "internal", _("internal")
    PERSONAL = "personal", _("personal")
    SENSITIVE_PERSONAL = "sensitive_personal", _("sensitive personal")


class Grade(models.IntegerChoices):
    """Data grade after GB/T 43697-2024: general, important, core (higher is stricter)."""

    GENERAL = 1, _("general data")
    IMPORTANT = 2, _("important data")
    CORE = 3, _("core data")


class Level(models.IntegerChoices):
    """Public-data sensitivity level L1 (may be opened) to L4 (most sensitive)."""

    L1 = 1, "L1"
    L2 = 2, "L2"
    L3 = 3, "L3"
    L4 = 4, "L4"


class Registry(models.Model):
    code = models.SlugField(_("registry code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_en = models.CharField(_("English name"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="registries",
                                   verbose_name=_("provider department"))
    is_base = models.BooleanField(_("base registry"), default=False,
                                  help_text=_("One of the four base databases every department draws on."))
    schema_version = models.PositiveIntegerField(_("schema version"), default=1)
    # The keyed blind index key, wrapped by the key-encryption key; never rotated with the data keys, so that
    # lookups stay one index probe (see registries.keys).
    index_key_wrapped = models.BinaryField(editable=False, default=b"")
    index_suite = models.CharField(max_length=8, editable=False, blank=True)
    kek_id = models.CharField(max_length=32, editable=False, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    data_scope_paths = ScopePaths(department="department", division="department__division")

    class Meta:
        verbose_name = _("registry")
        verbose_name_plural = _("registries")
        ordering = ["code"]
        permissions = [
            ("import_record", _("Can import records into a registry")),
            ("rotate_keys", _("Can rotate a registry's encryption keys")),
        ]

    def __str__(self) -> str:
        return self.name


class RegistryField(models.Model):
    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(_("field name"), max_length=64)
    position = models.PositiveIntegerField(default=0)
    type = models.CharField(_("type"), max_length=16, choices=FieldType.choices)
    label = models.CharField(_("label"), max_length=200)
    label_en = models.CharField(_("English label"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    required = models.BooleanField(_("required"), default=False)
    is_key = models.BooleanField(_("key"), default=False)
    unique = models.BooleanField(_("unique"), default=False)
    indexed = models.BooleanField(_("indexed"), default=False)
    validator = models.CharField(_("validator"), max_length=16, choices=Validator.choices, blank=True)
    pattern = models.CharField(_("pattern"), max_length=500, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), null=True, blank=True)
    # [{"value": "M", "label": "男", "label_en": "male"}, ...] for enumerations.
    choices = models.JSONField(_("choices"), default=list, blank=True)
    sensitivity = models.CharField(_("sensitivity"), max_length=20, choices=Sensitivity.choices,
                                   default=Sensitivity.INTERNAL)
    grade = models.PositiveSmallIntegerField(_("grade"), choices=Grade.choices, default=Grade.GENERAL)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.L2)
    masking = models.CharField(_("default masking rule"), max_length=40, blank=True)
    encrypted = models.BooleanField(_("encrypted at rest"), default=False)

    class Meta:
        verbose_name = _("registry field")
        verbose_name_plural = _("registry fields")
        ordering = ["registry", "position"]
        constraints = [models.UniqueConstraint(fields=["registry", "name"], name="registry_field_name_unique")]

    def __str__(self) -> str:
        return f"{self.registry.code}.{self.name}"


class SchemaVersion(models.Model):
    """Each version of a registry's schema as it was defined, with who defined it."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="schema_versions")
    version = models.PositiveIntegerField()
    fields = models.JSONField()
    actor_name = models.CharField(max_length=200, blank=True)
    actor_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["registry", "version"]
        constraints = [models.UniqueConstraint(fields=["registry", "version"], name="schema_version_unique")]

    def __str__(self) -> str:
        return f"{self.registry_id} v{self.version}"


class DataKey(models.Model):
    """A registry's data encryption key of one version, wrapped by the key-encryption key (envelope)."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="data_keys")
    version = models.PositiveIntegerField()
    cipher = models.CharField(max_length=16)
    wrapped_key = models.BinaryField()
    kek_id = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["registry", "version"]
        constraints = [models.UniqueConstraint(fields=["registry", "version"], name="data_key_version_unique")]

    def __str__(self) -> str:
        return f"{self.registry_id} key v{self.version}"


class Record(models.Model):
    # The unique (registry, key_value) index serves lookups by registry too: no index of its own to keep up.
    registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="records", db_index=False)
    key_value = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField()
    created_action = models.CharField(max_length=64)
    created_by = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField()
    deleted_at = models.DateTimeField(null=True, blank=True)
    deletion_reason = models.TextField(blank=True)
    data_scope_paths = ScopePaths(department="registry__department", division="registry__department__division")

    class Meta:
        verbose_name = _("record")
        verbose_name_plural = _("records")
        constraints = [models.UniqueConstraint(fields=["registry", "key_value"], name="record_key_unique")]

    def __str__(self) -> str:
        return f"{self.registry_id}:{self.pk}"


class RecordChange(models.Model):
    """One change to a record: the values before it (as stored, so encrypted fields stay sealed), who, when,
    under which action. The record itself holds the current values and its creation."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="changes")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=64)
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=200, blank=True)
    actor_department = models.CharField(max_length=64, blank=True)
    changed_fields = models.JSONField(default=list)
    previous = models.JSONField(default=dict)
    reason = models.TextField(blank=True)
    audit_entry_id = models.BigIntegerField(null=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["record", "version"]
        constraints = [models.UniqueConstraint(fields=["record", "version"], name="record_change_unique")]

    def __str__(self) -> str:
        return f"{self.record_id} v{self.version} {self.action}"


class RecordTerm(models.Model):
    """An indexed or unique non-key field's value (in clear, or its blind index when encrypted), for lookups
    and, where the field is unique, for the database to refuse a second record with the same value."""

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="+", db_index=False)
    field = models.CharField(max_length=64)
    term = models.CharField(max_length=200)
    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="terms")
    unique = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["registry", "field", "term"], name="record_term_lookup")]
        constraints = [
            models.UniqueConstraint(fields=["registry", "field", "term"], condition=Q(unique=True),
                                    name="record_term_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.field}={self.term}"


class StoredFile(models.Model):
    """A file a record's file field refers to, stored once by content hash."""

    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    content = models.FileField(upload_to="registries/files/")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("waiting")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed: nothing written")
    PARTIAL = "partial", _("good rows written, bad rows returned")


class ImportJob(models.Model):
    """A file import, with its progress and its report (row, field, reason for each bad row)."""

    registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=8)
    file_digest = models.CharField(max_length=64, blank=True)
    upload = models.FileField(upload_to="registries/imports/", blank=True)
    quarantine = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # The first problems (row, field, reason), capped so a million bad rows cannot fill memory or the row.
    problems = models.JSONField(default=list)
    message = models.TextField(blank=True)
    requested_by = models.ForeignKey("identity.User", on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    data_scope_paths = ScopePaths(department="registry__department", division="registry__department__division",
                                  owner="requested_by")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.registry_id}: {self.file_name}"
