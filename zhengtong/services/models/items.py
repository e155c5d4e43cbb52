"""Service items (政务服务事项): what a citizen or business can apply for, with its guide, form, materials,
time limits and the process that decides it."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.identity.models import Department, ScopePaths

from .definitions import DecisionDefinition, ProcessDefinition

__all__ = ["Channel", "ItemStatus", "ItemType", "LifeSituation", "Material", "MaterialSource", "ServiceItem"]


class ItemType(models.TextChoices):
    LICENCE = "licence", _("administrative licence")
    CONFIRMATION = "confirmation", _("administrative confirmation")
    BENEFIT = "benefit", _("administrative payment")
    REGISTRATION = "registration", _("registration")
    PUBLIC_SERVICE = "public_service", _("public service")
    OTHER = "other", _("other administrative power")


class ItemStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    WITHDRAWN = "withdrawn", _("withdrawn")


class LifeSituation(models.TextChoices):
    """The moments of life the service guide groups items by (the values of ServiceItem.life_situations)."""

    BIRTH = "birth", _("having a baby")
    SCHOOLING = "schooling", _("going to school")
    WORK = "work", _("working")
    MARRIAGE = "marriage", _("getting married")
    HOUSING = "housing", _("housing")
    BUSINESS = "business", _("starting a business")
    RETIREMENT = "retirement", _("retiring")
    DEATH = "death", _("when someone dies")
    DISABILITY = "disability", _("living with a disability")
    MOVING = "moving", _("moving home")


class Channel(models.TextChoices):
    """Where an item can be handled (the values of ServiceItem.channels)."""

    ONLINE = "online", _("online")
    MOBILE = "mobile", _("mobile app")
    WINDOW = "window", _("at the service hall window")
    SELF_SERVICE = "self_service", _("self-service terminal")


class ServiceItem(models.Model):
    code = models.CharField(_("item code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    item_type = models.CharField(_("type"), max_length=32, choices=ItemType.choices)
    status = models.CharField(_("status"), max_length=16, choices=ItemStatus.choices, default=ItemStatus.DRAFT)
    summary = models.TextField(_("summary"), blank=True)
    responsible_department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="service_items",
                                               verbose_name=_("responsible department"))
    cooperating_departments = models.ManyToManyField(Department, blank=True, related_name="cooperating_items",
                                                     verbose_name=_("co-operating departments"))
    legal_basis = models.TextField(_("legal basis"))
    conditions = models.TextField(_("conditions"), blank=True)
    fee = models.CharField(_("fee"), max_length=200, blank=True, help_text=_("Empty when the service is free."))
    statutory_days = models.PositiveSmallIntegerField(_("statutory time limit (working days)"))
    promised_days = models.PositiveSmallIntegerField(_("promised time limit (working days)"))
    channels = models.JSONField(_("channels"), default=list, blank=True)  # Channel values: ["online", "window"]
    life_situations = models.JSONField(_("life situations"), default=list, blank=True)  # LifeSituation values
    keywords = models.CharField(_("keywords"), max_length=300, blank=True)
    commitment_allowed = models.BooleanField(_("commitment may replace a material"), default=False)
    # The application form: an ordered list of questions, each {"name", "label", "type", "required", "hint",
    # "choices", "prefill": {"registry", "field"} | null}; services.actions.items.validate_form says what it may hold.
    form = models.JSONField(_("form"), default=list)
    process = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, related_name="items",
                                verbose_name=_("process"))
    decision = models.ForeignKey(DecisionDefinition, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="items", verbose_name=_("decision table for automatic approval"))
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(_("updated at"))
    data_scope_paths = ScopePaths(department="responsible_department", division="responsible_department__division")

    class Meta:
        verbose_name = _("service item")
        verbose_name_plural = _("service items")
        ordering = ["code"]
        permissions = [("define_serviceitem", "Define and publish service items, processes and decision tables")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class MaterialSource(models.TextChoices):
    APPLICANT = "applicant", _("uploaded by the applicant")
    REGISTRY = "registry", _("obtained from a registry")
    RESULT = "result", _("obtained from an earlier result")


class Material(models.Model):
    """A document an item needs. When the platform can obtain it (a registry field, or the approved result of
    another item), the applicant is not asked for it."""

    item = models.ForeignKey(ServiceItem, on_delete=models.CASCADE, related_name="materials",
                             verbose_name=_("service item"))
    code = models.CharField(_("material code"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    required = models.BooleanField(_("required"), default=True)
    source = models.CharField(_("source"), max_length=16, choices=MaterialSource.choices,
                              default=MaterialSource.APPLICANT)
    # For REGISTRY: the registry code and the field that proves it ("persons", "hukou_address");
    # for RESULT: the code of the item whose approved result stands in for it.
    source_registry = models.CharField(_("registry"), max_length=64, blank=True)
    source_field = models.CharField(_("registry field"), max_length=64, blank=True)
    source_item = models.CharField(_("earlier item"), max_length=64, blank=True)
    commitment_allowed = models.BooleanField(_("a signed commitment may replace it"), default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("material")
        verbose_name_plural = _("materials")
        ordering = ["item", "position", "pk"]
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="services_material_item_code")]

    def __str__(self) -> str:
        return self.name
