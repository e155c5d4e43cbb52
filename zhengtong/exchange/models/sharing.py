"""Sharing (共享交换): requests for another department's resource, the grants they lead to, consent records as a
basis of access, and the counters that enforce a grant's quota and rate.

A grant is what the one door (exchange.door) checks for systems and for staff reading another department's
data: consumer × resource × fields × row filter × masking × validity × quota.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from zhengtong.catalog.models import Resource
from zhengtong.core.models import DeadlineNotices
from zhengtong.identity.models import Department, ScopePaths

__all__ = ["Basis", "ConsentRecord", "Grant", "GrantStatus", "GrantUsage", "MaskingLevel", "RefusedBy",
           "RequestStatus", "SharingRequest"]


class Basis(models.TextChoices):
    LEGAL = "legal", _("legal basis")
    CONSENT = "consent", _("consent of the data subject")


class RequestStatus(models.TextChoices):
    CHECKING = "checking", _("awaiting the governance office's conformity check")
    PROVIDER_REVIEW = "provider_review", _("awaiting the provider's answer")
    GRANTED = "granted", _("granted")
    REFUSED = "refused", _("refused")
    DISPUTED = "disputed", _("refusal disputed, with the governance office")
    WITHDRAWN = "withdrawn", _("withdrawn")


class RefusedBy(models.TextChoices):
    CATALOG = "catalog", _("the catalog: the resource is not shared")
    GOVERNANCE = "governance", _("the data governance office")
    PROVIDER = "provider", _("the provider department")


class SharingRequest(DeadlineNotices):
    """A consumer department's request for a resource, and where it stands on its path.

    The path follows the resource's sharing type: unconditional → the governance office checks conformity
    (2 working days) and access is granted; conditional → the same check, then the provider answers (5 working
    days, 10 while the resource is not yet published); not shared → refused at once with the legal basis.
    """

    number = models.CharField(_("request number"), max_length=32, unique=True)
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="sharing_requests",
                                 verbose_name=_("consumer department"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="sharing_requests",
                                 verbose_name=_("data resource"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    requested_by_name = models.CharField(_("requested by"), max_length=200)
    purpose = models.TextField(_("purpose"))
    scenario = models.TextField(_("application scenario"))
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices, default=Basis.LEGAL)
    legal_basis = models.TextField(_("legal basis"), blank=True)
    fields = models.JSONField(_("fields needed"), default=list)
    row_filter = models.JSONField(_("row scope"), default=dict, blank=True)
    expected_daily_calls = models.PositiveIntegerField(_("expected calls per day"))
    valid_from = models.DateField(_("from"))
    valid_until = models.DateField(_("until"))
    status = models.CharField(_("status"), max_length=20, choices=RequestStatus.choices,
                              default=RequestStatus.CHECKING)
    submitted_at = models.DateTimeField(_("submitted at"))
    check_due = models.DateField(_("conformity check due"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked at"), null=True, blank=True)
    checked_by_name = models.CharField(_("checked by"), max_length=200, blank=True)
    check_note = models.TextField(_("note of the check"), blank=True)
    answer_due = models.DateField(_("provider's answer due"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by_name = models.CharField(_("answered by"), max_length=200, blank=True)
    refused_by = models.CharField(_("refused by"), max_length=16, choices=RefusedBy.choices, blank=True)
    refusal_reasons = models.TextField(_("reasons for refusal"), blank=True)
    dispute_reason = models.TextField(_("grounds of the dispute"), blank=True)
    disputed_at = models.DateTimeField(_("disputed at"), null=True, blank=True)
    settle_due = models.DateField(_("settlement due"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by_name = models.CharField(_("settled by"), max_length=200, blank=True)
    settlement = models.TextField(_("settlement"), blank=True)
    data_scope_paths = ScopePaths(department="consumer", division="consumer__division")

    class Meta:
        verbose_name = _("sharing request")
        verbose_name_plural = _("sharing requests")
        ordering = ["-submitted_at", "-pk"]
        indexes = [models.Index(fields=["status", "check_due"]), models.Index(fields=["status", "answer_due"])]
        permissions = [("check_sharingrequest", "Check sharing requests for conformity and settle disputes"),
                       ("answer_sharingrequest", "Answer sharing requests for the department's resources")]

    def __str__(self) -> str:
        return self.number

    @property
    def current_due(self) -> dt.date | None:
        """The deadline of the step the request is waiting on, or None when it waits on nobody."""
        return {RequestStatus.CHECKING: self.check_due, RequestStatus.PROVIDER_REVIEW: self.answer_due,
                RequestStatus.DISPUTED: self.settle_due}.get(RequestStatus(self.status))


class MaskingLevel(models.TextChoices):
    MASKED = "masked", _("masked by each field's rule")
    PSEUDONYMISED = "pseudonymised", _("personal fields replaced by the consumer's pseudonyms")
    CLEAR = "clear", _("in clear (the legal basis requires the full values)")


class GrantStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    SUSPENDED = "suspended", _("suspended")
    REVOKED = "revoked", pgettext_lazy("grant status", "revoked")


class Grant(models.Model):
    """A consumer department's right to read a resource: which fields, which rows, masked how, from when to
    when, how many calls a day and a minute. Its own department's staff and systems use it."""

    number = models.CharField(_("grant number"), max_length=32, unique=True)
    request = models.OneToOneField(SharingRequest, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="grant")
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="grants",
                                 verbose_name=_("consumer department"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="grants",
                                 verbose_name=_("data resource"))
    purpose = models.TextField(_("purpose"))
    basis = models.CharField(_("basis"), max_length=16, choices=Basis.choices, default=Basis.LEGAL)
    legal_basis = models.TextField(_("legal basis"), blank=True)
    fields = models.JSONField(_("fields granted"), default=list)
    row_filter = models.JSONField(_("row filter"), default=dict, blank=True)
    masking_level = models.CharField(_("masking"), max_length=16, choices=MaskingLevel.choices,
                                     default=MaskingLevel.MASKED)
    field_rules = models.JSONField(_("masking rules for this grant"), default=dict, blank=True,
                                   help_text=_("Field name → masking rule, overriding the field's own rule."))
    may_write = models.BooleanField(_("may write records"), default=False,
                                    help_text=_("The consumer's systems may create and change records."))
    may_reveal = models.BooleanField(
        _("staff may reveal full values"), default=False,
        help_text=_("The consumer's staff whose role allows it may reveal a masked field, one at a time, with a "
                    "reason and a case reference."))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    daily_quota = models.PositiveIntegerField(_("calls per day"), null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(_("calls per minute"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=GrantStatus.choices, default=GrantStatus.ACTIVE)
    status_reason = models.TextField(_("reason of the last status change"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    data_scope_paths = ScopePaths(department="consumer", division="consumer__division")

    class Meta:
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["consumer", "resource", "status"])]

    def __str__(self) -> str:
        return self.number

    def in_force_on(self, day: dt.date) -> bool:
        return self.valid_from <= day <= self.valid_until


class GrantUsage(models.Model):
    """Calls counted against a grant in one window: a day (quota) or a minute (rate). Refused calls are not
    counted, since the counting happens in the transaction of the read."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="usage")
    slot = models.CharField(max_length=20)  # "d:2026-11-28" or "m:2026-11-28T09:14"
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["grant", "slot"], name="exchange_usage_slot_unique")]

    def __str__(self) -> str:
        return f"{self.grant_id} {self.slot}: {self.calls}"


class ConsentRecord(models.Model):
    """A data subject's consent to one use: which resource, to which consumer, for what purpose, given or
    withdrawn. The subject is kept as the keyed hash the audit trail uses, never as the number itself.

    A consent given to a data agreement of the privacy center names the agreement and the version consented
    to; when the agreement changes, its older versions' consents are made to expire, so the door stops counting
    them until the subject consents again. Such a consent covers the agreement's data elements only: a grant
    reading more fields than a consent names does not rest on it."""

    subject_hash = models.CharField(max_length=64, db_index=True)
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="consents")
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="consents")
    purpose = models.TextField(_("purpose"))
    given_at = models.DateTimeField(_("given at"))
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    agreement_ref = models.CharField(_("data agreement"), max_length=36, blank=True, db_index=True,
                                     help_text=_("The id of the data agreement consented to, if any."))
    agreement_version = models.PositiveIntegerField(_("agreement version"), null=True, blank=True)
    fields = models.JSONField(
        _("fields consented to"), default=list, blank=True,
        help_text=_("The resource's fields this consent covers; empty: all of them (a consent recorded without a "
                    "data agreement)."))

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-given_at"]
        indexes = [models.Index(fields=["subject_hash", "resource", "consumer"])]

    def __str__(self) -> str:
        return f"{self.consumer_id}/{self.resource_id}: {self.purpose[:40]}"
