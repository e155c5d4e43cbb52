"""Citizens' cases about their data: objections to an access (访问异议) and requests to correct a record (更正申请).

An objection is about one audit entry that concerns the citizen: the data governance office answers it within
10 working days, upholding or dismissing it. A correction request names one field of one of the citizen's own
records and the value they say is right, with evidence; the registry's owner department decides within 5 working
days, and an accepted correction changes the record through the registries' update action, so the record's
history shows it with the case number as its reason. The steps of both are their audit entries.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.core.models import DeadlineNotices
from zhengtong.identity.models import Department, ScopePaths
from zhengtong.registries.models import Registry

__all__ = ["CorrectionRequest", "CorrectionStatus", "Objection", "ObjectionStatus"]


class ObjectionStatus(models.TextChoices):
    OPEN = "open", _("open, with the data governance office")
    UPHELD = "upheld", _("answered: objection upheld")
    DISMISSED = "dismissed", _("answered: objection dismissed")


class Objection(DeadlineNotices):
    """A citizen's objection to one access to their data, and the governance office's answer."""

    number = models.CharField(_("objection number"), max_length=32, unique=True)
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="objections",
                                verbose_name=_("citizen"))
    audit_entry_id = models.BigIntegerField(_("audit entry"), db_index=True)
    # What was objected to, as the entry said it when the objection was made.
    accessed_at = models.DateTimeField(_("time of the access"))
    accessor_department = models.CharField(_("department code"), max_length=32, blank=True)
    accessor_department_name = models.CharField(_("department"), max_length=200, blank=True)
    access_action = models.CharField(_("kind of access"), max_length=100)
    access_purpose = models.CharField(_("stated purpose"), max_length=200, blank=True)
    access_legal_basis = models.CharField(_("legal basis"), max_length=200, blank=True)
    access_object = models.CharField(_("data accessed"), max_length=100, blank=True)
    reason = models.TextField(_("reason of the objection"))
    status = models.CharField(_("status"), max_length=16, choices=ObjectionStatus.choices,
                              default=ObjectionStatus.OPEN)
    submitted_at = models.DateTimeField(_("submitted at"))
    due = models.DateField(_("answer due"))
    due_provisional = models.BooleanField(default=False, editable=False)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by_name = models.CharField(_("answered by"), max_length=200, blank=True)
    answer = models.TextField(_("the office's answer"), blank=True)
    data_scope_paths = ScopePaths(owner="citizen")

    class Meta:
        verbose_name = _("objection to an access")
        verbose_name_plural = _("objections to accesses")
        ordering = ["-submitted_at", "-pk"]
        indexes = [models.Index(fields=["status", "due"])]
        permissions = [("answer_objection", "Answer citizens' objections to accesses to their data")]
        # Two submissions at the same moment (a double click, two tabs) make one case, not two.
        constraints = [models.UniqueConstraint(fields=["citizen", "audit_entry_id"],
                                               condition=models.Q(status=ObjectionStatus.OPEN),
                                               name="privacy_objection_one_open_per_access")]

    def __str__(self) -> str:
        return self.number

    @property
    def current_due(self) -> dt.date | None:
        return self.due if self.status == ObjectionStatus.OPEN else None


class CorrectionStatus(models.TextChoices):
    SUBMITTED = "submitted", _("submitted, with the provider department")
    ACCEPTED = "accepted", _("accepted: the record is corrected")
    REFUSED = "refused", _("refused")


class CorrectionRequest(DeadlineNotices):
    """A citizen's request to correct one field of a record about them, and the provider's decision."""

    number = models.CharField(_("request number"), max_length=32, unique=True)
    citizen = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="corrections",
                                verbose_name=_("citizen"))
    registry = models.ForeignKey(Registry, on_delete=models.PROTECT, related_name="correction_requests",
                                 verbose_name=_("registry"))
    record_id = models.BigIntegerField(_("record"), db_index=True)
    provider = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="correction_requests",
                                 verbose_name=_("provider department"))
    field = models.CharField(_("field"), max_length=64)
    field_label = models.CharField(_("field label"), max_length=200)
    requested_value = models.TextField(_("the value the citizen says is right"))
    reason = models.TextField(_("reason"))
    evidence_name = models.CharField(_("evidence file name"), max_length=255)
    evidence_type = models.CharField(_("evidence file type"), max_length=100)
    evidence_size = models.PositiveIntegerField(_("evidence file size"))
    evidence_digest = models.CharField(max_length=64, editable=False)  # SHA-256: the file's name under VAR_DIR
    status = models.CharField(_("status"), max_length=16, choices=CorrectionStatus.choices,
                              default=CorrectionStatus.SUBMITTED)
    submitted_at = models.DateTimeField(_("submitted at"))
    due = models.DateField(_("decision due"))
    due_provisional = models.BooleanField(default=False, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by_name = models.CharField(_("decided by"), max_length=200, blank=True)
    refusal_reason = models.TextField(_("reason for refusal"), blank=True)
    record_version = models.PositiveIntegerField(_("record version after the correction"), null=True, blank=True)
    data_scope_paths = ScopePaths(department="provider", division="provider__division", owner="citizen")

    class Meta:
        verbose_name = _("correction request")
        verbose_name_plural = _("correction requests")
        ordering = ["-submitted_at", "-pk"]
        indexes = [models.Index(fields=["status", "due"]), models.Index(fields=["registry", "record_id"])]
        # One correction of a field waits for a decision at a time, whoever asked (so a fortiori per citizen):
        # the provider decides on one value, and a race of two submissions makes one case.
        constraints = [models.UniqueConstraint(fields=["registry", "record_id", "field"],
                                               condition=models.Q(status=CorrectionStatus.SUBMITTED),
                                               name="privacy_correction_one_submitted_per_field")]

    def __str__(self) -> str:
        return self.number

    @property
    def current_due(self) -> dt.date | None:
        return self.due if self.status == CorrectionStatus.SUBMITTED else None
