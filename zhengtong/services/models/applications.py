"""Applications (办件): one applicant's request for one service item, from draft to result, with the materials
given or obtained, the process state and the pauses of the deadline clock."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.core.models import DeadlineNotices
from zhengtong.identity.models import ScopePaths

from .definitions import ProcessDefinition
from .items import Material, ServiceItem

__all__ = ["OPEN_STATUSES", "Application", "ApplicationMaterial", "ApplicationStatus", "ClockPause",
           "MaterialProvision"]


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SUBMITTED = "submitted", _("submitted")
    IN_REVIEW = "in_review", _("in review")
    CORRECTION = "correction", _("waiting for the applicant's correction")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    WITHDRAWN = "withdrawn", _("withdrawn")


OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.IN_REVIEW, ApplicationStatus.CORRECTION)


class Application(DeadlineNotices):
    # 8 characters from an alphabet without look-alikes (0/O, 1/I/L), unique; empty while a draft.
    reference = models.CharField(_("reference"), max_length=8, unique=True, null=True, blank=True)
    item = models.ForeignKey(ServiceItem, on_delete=models.PROTECT, related_name="applications",
                             verbose_name=_("service item"))
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="applications",
                                  verbose_name=_("applicant"))
    status = models.CharField(_("status"), max_length=16, choices=ApplicationStatus.choices,
                              default=ApplicationStatus.DRAFT, db_index=True)
    # Answers to the form's questions, by question name; values the government holds are not in here but in
    # `prefilled`: {name: {"value": ..., "source": "<registry code>.<field>", "label": "<registry name>"}}.
    answers = models.JSONField(_("answers"), default=dict, blank=True)
    prefilled = models.JSONField(_("values the government holds"), default=dict, blank=True)
    # Set by the browser when the draft starts; a second submit with the same token finds this application.
    submission_token = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("started at"))
    updated_at = models.DateTimeField(_("last saved at"))
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    due = models.DateField(_("decision due"), null=True, blank=True)
    due_provisional = models.BooleanField(default=False, editable=False)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    result = models.TextField(_("result"), blank=True)  # the decision's text, and reasons when rejected
    result_number = models.CharField(_("result document number"), max_length=64, blank=True)
    # The running process: the version it started on and SpiffWorkflow's serialised state.
    process = models.ForeignKey(ProcessDefinition, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="applications", verbose_name=_("process"))
    workflow_state = models.JSONField(null=True, blank=True, editable=False)
    waiting_for_timer = models.BooleanField(default=False, editable=False, db_index=True)
    # Automatic approval: {"decision": key, "version": n, "inputs": {...}, "rules": [...], "outputs": {...}}.
    decision_trace = models.JSONField(null=True, blank=True, editable=False)
    commitment_signed_at = models.DateTimeField(_("commitment signed at"), null=True, blank=True)
    correction_request = models.TextField(_("what to correct"), blank=True)
    data_scope_paths = ScopePaths(department="item__responsible_department",
                                  division="item__responsible_department__division", owner="applicant")

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "due"]), models.Index(fields=["applicant", "status"])]
        constraints = [
            models.UniqueConstraint(fields=["applicant", "submission_token"],
                                    condition=~models.Q(submission_token=""),
                                    name="services_application_one_per_token"),
            # "Start now" twice (or in two tabs) resumes the same draft rather than starting a second one.
            models.UniqueConstraint(fields=["applicant", "item"], condition=models.Q(status="draft"),
                                    name="services_application_one_draft"),
        ]

    def __str__(self) -> str:
        return self.reference or f"draft {self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def current_due(self) -> dt.date | None:
        return self.due if self.is_open else None


class MaterialProvision(models.TextChoices):
    UPLOADED = "uploaded", _("uploaded")
    OBTAINED = "obtained", _("obtained by the platform")
    COMMITTED = "committed", _("replaced by a signed commitment")


class ApplicationMaterial(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="materials")
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="+")
    provision = models.CharField(_("how it was given"), max_length=16, choices=MaterialProvision.choices)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file_type = models.CharField(_("file type"), max_length=100, blank=True)
    file_size = models.PositiveIntegerField(_("file size"), default=0)
    file_digest = models.CharField(max_length=64, blank=True, editable=False)  # SHA-256: its name under VAR_DIR
    source = models.CharField(_("source"), max_length=200, blank=True)  # where an obtained material came from
    added_at = models.DateTimeField(_("added at"))
    # A commitment's post-check (事后核查): done when staff have checked the real document.
    post_checked_at = models.DateTimeField(_("checked after approval at"), null=True, blank=True)

    class Meta:
        verbose_name = _("material of an application")
        verbose_name_plural = _("materials of applications")
        constraints = [models.UniqueConstraint(fields=["application", "material"],
                                               name="services_appmaterial_once")]

    def __str__(self) -> str:
        return f"{self.application} · {self.material}"


class ClockPause(models.Model):
    """The deadline clock stands still while the applicant corrects (补正): from the day it was asked until the
    day the correction came in."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="pauses")
    started_on = models.DateField(_("paused from"))
    ended_on = models.DateField(_("resumed on"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200)

    class Meta:
        verbose_name = _("pause of the deadline clock")
        verbose_name_plural = _("pauses of the deadline clock")
        ordering = ["application", "started_on"]

    def __str__(self) -> str:
        return f"{self.application} {self.started_on}–{self.ended_on or ''}"
