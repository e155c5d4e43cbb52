"""The government data resource catalog (政务信息资源目录): resources, their data items and grades, data rights
registrations (权属登记) with signed certificates, disputes, and lineage.

A resource describes either a registry (kept in step with its schema by catalog.actions.sync_registry_resource)
or a department's own API (its data items declared with it). Grade and level are never typed in: they are the
highest of the resource's items' (就高从严), recomputed whenever the items change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.identity.models import Department, ScopePaths
from zhengtong.registries.models import FieldType, Grade, Level, Registry, Sensitivity


class ResourceKind(models.TextChoices):
    BASE = "base", _("base resource")
    THEMATIC = "thematic", _("thematic resource")
    DEPARTMENTAL = "departmental", _("departmental resource")


# The "class" (类) digit that opens a resource code, by kind.
CLASS_DIGITS = {ResourceKind.BASE: "1", ResourceKind.THEMATIC: "2", ResourceKind.DEPARTMENTAL: "3"}


class ResourceFormat(models.TextChoices):
    DATABASE = "database", _("database table")
    SPREADSHEET = "spreadsheet", _("spreadsheet")
    DOCUMENT = "document", _("electronic file")
    IMAGE = "image", _("image or map")
    MEDIA = "media", _("audio or video")
    API = "api", _("service interface (API)")
    OTHER = "other", _("other")


class SharingType(models.TextChoices):
    UNCONDITIONAL = "unconditional", _("shared unconditionally")
    CONDITIONAL = "conditional", _("shared on conditions")
    NONE = "none", _("not shared")


class OpeningType(models.TextChoices):
    OPEN = "open", _("open to the public")
    CONDITIONAL = "conditional", _("open on conditions")
    CLOSED = "closed", _("not open")


class UpdateCycle(models.TextChoices):
    REALTIME = "realtime", _("real time")
    DAILY = "daily", _("daily")
    WEEKLY = "weekly", _("weekly")
    MONTHLY = "monthly", _("monthly")
    QUARTERLY = "quarterly", _("quarterly")
    YEARLY = "yearly", _("yearly")
    IRREGULAR = "irregular", _("irregular")


class ResourceStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")


class HttpMethod(models.TextChoices):
    GET = "GET", "GET"
    POST = "POST", "POST"
    PUT = "PUT", "PUT"
    PATCH = "PATCH", "PATCH"
    DELETE = "DELETE", "DELETE"


class Resource(models.Model):
    """One entry of the catalog.

    Its code follows the national 政务信息资源目录编制指南: a classifying front part (前段码), a slash, and a
    numbering back part (后段码). The front part is the class (类, one digit: 1 base, 2 thematic, 3
    departmental, so it follows the kind), the item (项, two digits), the category (目, three digits) and an
    optional sub-category (细目) of any length — here up to 18 digits or capital letters, so that a
    department's unified social credit code fits. The back part is the sequence (顺序码), whose length the
    guideline leaves open; here it has six digits, counted separately for each front part. Example:
    ``302005/000012``. The code is given once the classification is known and never changes after the
    resource is first published.
    """

    code = models.CharField(_("resource code"), max_length=40, unique=True, null=True, blank=True, editable=False)
    item_code = models.CharField(_("item (项)"), max_length=2, blank=True)
    category_code = models.CharField(_("category (目)"), max_length=3, blank=True)
    subcategory_code = models.CharField(_("sub-category (细目)"), max_length=18, blank=True)
    name = models.CharField(_("name"), max_length=200)
    summary = models.TextField(_("summary"), blank=True)
    provider = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="catalog_resources",
                                 verbose_name=_("provider department"))
    kind = models.CharField(_("resource kind"), max_length=16, choices=ResourceKind.choices)
    format = models.CharField(_("format"), max_length=16, choices=ResourceFormat.choices)
    status = models.CharField(_("status"), max_length=16, choices=ResourceStatus.choices,
                              default=ResourceStatus.DRAFT)
    sharing_type = models.CharField(_("sharing type"), max_length=16, choices=SharingType.choices, blank=True)
    sharing_condition = models.TextField(_("sharing condition"), blank=True)
    legal_basis = models.TextField(_("legal basis"), blank=True,
                                   help_text=_("The law, regulation or decision that limits sharing."))
    opening_type = models.CharField(_("opening type"), max_length=16, choices=OpeningType.choices, blank=True)
    opening_condition = models.TextField(_("opening condition"), blank=True)
    update_cycle = models.CharField(_("update cycle"), max_length=16, choices=UpdateCycle.choices, blank=True)
    published_on = models.DateField(_("publication date"), null=True, blank=True, editable=False)
    grade = models.PositiveSmallIntegerField(_("grade"), choices=Grade.choices, default=Grade.GENERAL,
                                             editable=False)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.L1, editable=False)
    registry = models.OneToOneField(Registry, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="catalog_resource", verbose_name=_("registry"))
    endpoint_url = models.URLField(_("endpoint URL"), max_length=500, blank=True)
    http_method = models.CharField(_("HTTP method"), max_length=8, choices=HttpMethod.choices, blank=True)
    service_description = models.TextField(_("description of the service"), blank=True)
    related = models.ManyToManyField("self", blank=True, verbose_name=_("related resources"))
    sources = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="derived",
                                     verbose_name=_("source resources"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    data_scope_paths = ScopePaths(department="provider", division="provider__division")

    class Meta:
        verbose_name = _("data resource")
        verbose_name_plural = _("data resources")
        ordering = ["code", "pk"]
        indexes = [models.Index(fields=["status", "kind"]), models.Index(fields=["grade", "level"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})" if self.code else self.name

    @property
    def is_api(self) -> bool:
        return self.registry_id is None

    @property
    def front_code(self) -> str:
        """The classifying front part of the code (前段码), or "" while the classification is incomplete."""
        if not (self.kind and self.item_code and self.category_code):
            return ""
        return CLASS_DIGITS[ResourceKind(self.kind)] + self.item_code + self.category_code + self.subcategory_code


class DataItem(models.Model):
    """A data item (信息项) of a resource: a registry field, or a field of an API's answer."""

    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(_("item name"), max_length=64)
    label = models.CharField(_("label"), max_length=200)
    label_en = models.CharField(_("English label"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    type = models.CharField(_("type"), max_length=16, choices=FieldType.choices)
    sensitivity = models.CharField(_("sensitivity"), max_length=20, choices=Sensitivity.choices,
                                   default=Sensitivity.INTERNAL)
    grade = models.PositiveSmallIntegerField(_("grade"), choices=Grade.choices, default=Grade.GENERAL)
    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices, default=Level.L2)
    masking = models.CharField(_("default masking rule"), max_length=40, blank=True)
    encrypted = models.BooleanField(_("encrypted at rest"), default=False)

    class Meta:
        verbose_name = _("data item")
        verbose_name_plural = _("data items")
        ordering = ["resource", "position"]
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="catalog_item_name_unique")]

    def __str__(self) -> str:
        return f"{self.label} ({self.name})"


class NumberCounter(models.Model):
    """The last number given out in one series: a resource code's sequence per front part, a registration
    number per year. Rows are locked while a number is taken, so two requests never get the same one."""

    series = models.CharField(max_length=64, primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.series}: {self.last}"


class RightKind(models.TextChoices):
    PROCESSING = "processing", _("processing and use rights (数据加工使用权)")
    OPERATION = "operation", _("product operation rights (数据产品经营权)")


class RightsRegistration(models.Model):
    """A data rights registration (权属登记) of a published resource.

    What it certifies — the number, the resource, the holder, the holders of processing-and-use and of
    product-operation rights, and the provenance — is kept as registered (names included), so a department
    renamed later does not change what was certified. Each change of that content issues a new certificate
    version; disputes are recorded beside it and never touch a certificate.
    """

    number = models.CharField(_("registration number"), max_length=32, unique=True)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="rights_registrations",
                                 verbose_name=_("data resource"))
    resource_code = models.CharField(_("resource code"), max_length=40)
    resource_name = models.CharField(_("resource name"), max_length=200)
    holder = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+",
                               verbose_name=_("holder of the data resource"))
    holder_name = models.CharField(_("holder's name"), max_length=200)
    holder_credit_code = models.CharField(_("holder's unified social credit code"), max_length=18)
    source_system = models.CharField(_("collecting system"), max_length=200,
                                     help_text=_("The information system that collected or produced the data."))
    collection_legal_basis = models.TextField(_("legal basis of collection"))
    provenance_note = models.TextField(_("provenance note"), blank=True)
    registered_at = models.DateTimeField(_("registered at"))
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="+")
    version = models.PositiveIntegerField(_("version"), default=1)
    data_scope_paths = ScopePaths(department="resource__provider", division="resource__provider__division")

    class Meta:
        verbose_name = _("data rights registration")
        verbose_name_plural = _("data rights registrations")
        ordering = ["-registered_at"]

    def __str__(self) -> str:
        return self.number

    @property
    def open_dispute(self) -> RightsDispute | None:
        return next((d for d in self.disputes.all() if d.settled_at is None), None)

    @property
    def current_certificate(self) -> RightsCertificate | None:
        return next((c for c in self.certificates.all() if c.version == self.version), None)


class RightHolder(models.Model):
    """A holder of processing-and-use or product-operation rights: a department, or a named organisation."""

    registration = models.ForeignKey(RightsRegistration, on_delete=models.CASCADE, related_name="right_holders")
    position = models.PositiveIntegerField(default=0)
    right = models.CharField(_("right"), max_length=16, choices=RightKind.choices)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                                   verbose_name=_("department"))
    name = models.CharField(_("name"), max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18)

    class Meta:
        verbose_name = _("right holder")
        verbose_name_plural = _("right holders")
        ordering = ["registration", "position"]

    def __str__(self) -> str:
        return f"{self.get_right_display()}: {self.name}"


class RightsCertificate(models.Model):
    """The platform's signed statement of one version of a registration.

    `payload` is the exact canonical JSON that was signed (UTF-8), so anyone holding the platform's public key
    can check it without this database; `public_key` is a copy for that purpose, not what verification trusts.
    """

    registration = models.ForeignKey(RightsRegistration, on_delete=models.PROTECT, related_name="certificates")
    version = models.PositiveIntegerField(_("version"))
    payload = models.TextField(_("certified content"))
    algorithm = models.CharField(_("signature algorithm"), max_length=16)
    key_id = models.CharField(_("key id"), max_length=64)
    public_key = models.BinaryField(max_length=128)
    signature = models.BinaryField(max_length=128)
    issued_at = models.DateTimeField(_("issued at"))
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("rights certificate")
        verbose_name_plural = _("rights certificates")
        ordering = ["registration", "version"]
        constraints = [models.UniqueConstraint(fields=["registration", "version"],
                                               name="catalog_certificate_version_unique")]

    def __str__(self) -> str:
        return f"{self.registration_id} v{self.version}"


class RightsDispute(models.Model):
    """A dispute over a registration (权属争议), raised by a data or governance officer and settled by the
    data governance office. At most one is open at a time."""

    registration = models.ForeignKey(RightsRegistration, on_delete=models.PROTECT, related_name="disputes")
    reason = models.TextField(_("reason"))
    raised_at = models.DateTimeField(_("raised at"))
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    raised_by_name = models.CharField(_("raised by"), max_length=200)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    settled_by_name = models.CharField(_("settled by"), max_length=200, blank=True)
    settlement = models.TextField(_("settlement"), blank=True)
    data_scope_paths = ScopePaths(department="registration__resource__provider",
                                  division="registration__resource__provider__division")

    class Meta:
        verbose_name = _("rights dispute")
        verbose_name_plural = _("rights disputes")
        ordering = ["registration", "-raised_at"]
        constraints = [models.UniqueConstraint(fields=["registration"], condition=models.Q(settled_at__isnull=True),
                                               name="catalog_one_open_dispute")]

    def __str__(self) -> str:
        return f"{self.registration_id}: {self.reason[:40]}"

    @property
    def is_open(self) -> bool:
        return self.settled_at is None
