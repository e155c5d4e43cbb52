"""Subscriptions (数据订阅): a consumer department's system follows the changes of a resource it holds a grant for,
and each change becomes an event for it, read through the one door when it is made (so the grant's fields, row
scope, masking and consent apply, and the read is audited). Events go out as signed webhooks, retried with
backoff until delivered or dead, or wait for the system to pull them by sequence number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import Resource
from zhengtong.identity.models import ApiClient, Department, ScopePaths

from .sharing import Grant

__all__ = ["DeliveryMode", "Event", "EventAction", "EventStatus", "Subscription", "SubscriptionStatus"]


class DeliveryMode(models.TextChoices):
    WEBHOOK = "webhook", _("webhook: the platform sends each event to the system's URL")
    PULL = "pull", _("pull: the system fetches events by sequence number")


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    PAUSED = "paused", _("paused")
    CANCELLED = "cancelled", _("cancelled")


class Subscription(models.Model):
    """A system's standing request to hear of changes to one resource, within its department's grant."""

    number = models.CharField(_("subscription number"), max_length=32, unique=True)
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="subscriptions",
                                 verbose_name=_("consumer department"))
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, related_name="subscriptions",
                               verbose_name=_("receiving system"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="subscriptions",
                                 verbose_name=_("data resource"))
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="subscriptions",
                              verbose_name=_("grant relied on"))
    fields = models.JSONField(_("fields"), default=list)
    mode = models.CharField(_("delivery"), max_length=16, choices=DeliveryMode.choices, default=DeliveryMode.WEBHOOK)
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=SubscriptionStatus.choices,
                              default=SubscriptionStatus.ACTIVE)
    status_reason = models.TextField(_("reason of the last status change"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    created_by_name = models.CharField(_("created by"), max_length=200)
    created_at = models.DateTimeField(_("created at"))
    updated_at = models.DateTimeField(auto_now=True)
    # The change feed's cursors: the last record created (Record.pk) and the last record change
    # (RecordChange.pk) the subscription has dealt with. A new subscription starts at the present.
    records_seen = models.BigIntegerField(default=0, editable=False)
    changes_seen = models.BigIntegerField(default=0, editable=False)
    last_sequence = models.PositiveBigIntegerField(_("last event number"), default=0, editable=False)
    acknowledged_sequence = models.PositiveBigIntegerField(_("acknowledged through"), default=0, editable=False)
    collected_at = models.DateTimeField(_("changes last collected"), null=True, blank=True, editable=False)
    held_because = models.CharField(
        _("waiting because"), max_length=32, blank=True, editable=False,
        help_text="The door's refusal code (grant_suspended, quota_exceeded, ...) while changes cannot be read.")
    data_scope_paths = ScopePaths(department="consumer", division="consumer__division")

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "resource"], name="subscription_status_resource")]

    def __str__(self) -> str:
        return self.number


class EventAction(models.TextChoices):
    CREATED = "created", _("record created")
    UPDATED = "updated", _("record changed")
    DELETED = "deleted", _("record deleted")
    RESTORED = "restored", _("record restored")


class EventStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    DEAD = "dead", _("dead letter")


class Event(models.Model):
    """One change as a subscription's system may see it, numbered in the subscription's sequence, and its
    delivery: attempts, the next one, the last error, delivered or dead."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events")
    sequence = models.PositiveBigIntegerField(_("event number"))
    # What in the change feed the event stands for: "record:<Record.pk>" (a creation) or
    # "change:<RecordChange.pk>", so collecting the same change twice makes one event.
    source = models.CharField(max_length=40)
    action = models.CharField(_("change"), max_length=16, choices=EventAction.choices)
    record_id = models.BigIntegerField(_("record id"))
    payload = models.JSONField(_("payload, as masked for the subscriber"))
    created_at = models.DateTimeField(_("created at"))
    status = models.CharField(_("status"), max_length=16, choices=EventStatus.choices, default=EventStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    dead_at = models.DateTimeField(_("dead since"), null=True, blank=True)
    replays = models.PositiveSmallIntegerField(_("replays"), default=0)
    data_scope_paths = ScopePaths(department="subscription__consumer", division="subscription__consumer__division")

    class Meta:
        verbose_name = _("subscription event")
        verbose_name_plural = _("subscription events")
        ordering = ["subscription", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "sequence"], name="subscription_event_sequence"),
            models.UniqueConstraint(fields=["subscription", "source"], name="subscription_event_source"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="subscription_event_due")]

    def __str__(self) -> str:
        return f"{self.subscription_id}#{self.sequence}"
