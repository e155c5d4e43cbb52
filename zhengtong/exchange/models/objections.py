"""Data objections (数据异议): a consumer department says a value it read under its grant is wrong, with evidence;
the provider corrects the record or answers that the value is right, within working days; the consumer accepts
the answer or escalates to the data governance office, which settles."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import Resource
from zhengtong.core.models import DeadlineNotices
from zhengtong.identity.models import Department, ScopePaths
from zhengtong.registries.models import Record, Registry

__all__ = ["DataObjection", "ObjectionStatus"]


class ObjectionStatus(models.TextChoices):
    OPEN = "open", _("awaiting the provider")
    CORRECTED = "corrected", _("corrected by the provider")
    ANSWERED = "answered", _("answered: the provider confirms the value")
    ACCEPTED = "accepted", _("answer accepted")
    ESCALATED = "escalated", _("escalated to the governance office")
    SETTLED = "settled", _("settled by the governance office")


class DataObjection(DeadlineNotices):
    """One objection to one field of one registry record.

    The record is named by its id, as the door names a record opened from a search result; nothing of its values
    is kept here, besides the value the consumer believes right. Evidence files live under VAR_DIR, named by
    their SHA-256, and are served only to those who may see the objection.
    """

    number = models.CharField(_("objection number"), max_length=32, unique=True)
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="data_objections",
                                 verbose_name=_("consumer department"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="data_objections",
                                 verbose_name=_("data resource"))
    registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="+", verbose_name=_("registry"))
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="+", verbose_name=_("record"))
    field = models.CharField(_("field"), max_length=64)
    proposed_value = models.TextField(_("the value believed right"))
    description = models.TextField(_("why the value is wrong"))
    evidence_name = models.CharField(_("evidence file name"), max_length=255, blank=True)
    evidence_type = models.CharField(_("evidence file type"), max_length=100, blank=True)
    evidence_size = models.PositiveIntegerField(_("evidence file size"), null=True, blank=True)
    evidence_digest = models.CharField(max_length=64, blank=True, editable=False)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    raised_by_name = models.CharField(_("raised by"), max_length=200)
    raised_at = models.DateTimeField(_("raised at"))
    status = models.CharField(_("status"), max_length=16, choices=ObjectionStatus.choices,
                              default=ObjectionStatus.OPEN)
    answer_due = models.DateField(_("provider's answer due"))
    must_correct = models.BooleanField(_("the office ruled that the value must be corrected"), default=False)
    responded_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    responded_by_name = models.CharField(_("answered by"), max_length=200, blank=True)
    response = models.TextField(_("the provider's answer"), blank=True)
    corrected_version = models.PositiveIntegerField(_("record version after the correction"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalation_grounds = models.TextField(_("grounds of the escalation"), blank=True)
    settle_due = models.DateField(_("settlement due"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by_name = models.CharField(_("settled by"), max_length=200, blank=True)
    settlement = models.TextField(_("settlement"), blank=True)
    data_scope_paths = ScopePaths(department="consumer", division="consumer__division")

    class Meta:
        verbose_name = _("data objection")
        verbose_name_plural = _("data objections")
        ordering = ["-raised_at", "-pk"]
        indexes = [models.Index(fields=["status", "answer_due"]), models.Index(fields=["status", "settle_due"])]
        permissions = [("answer_dataobjection", "Correct or answer data objections to the department's resources"),
                       ("settle_dataobjection", "Settle escalated data objections")]

    def __str__(self) -> str:
        return self.number

    @property
    def current_due(self) -> dt.date | None:
        """The deadline of the step the objection waits on, or None when it waits on nobody with a deadline."""
        return {ObjectionStatus.OPEN: self.answer_due, ObjectionStatus.ESCALATED: self.settle_due}.get(
            ObjectionStatus(self.status))

    @property
    def is_closed(self) -> bool:
        return self.status in (ObjectionStatus.CORRECTED, ObjectionStatus.ACCEPTED, ObjectionStatus.SETTLED)
