"""Notifications to applicants and staff: every one is in the person's inbox on the platform; email and SMS
copies are sent through the configured backends and their outcome kept."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["Notification"]


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notifications", verbose_name=_("recipient"))
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("message"))
    link = models.CharField(_("link"), max_length=300, blank=True)  # a path on the platform
    created_at = models.DateTimeField(_("sent at"), db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # What the other channels did: "" not tried, "sent", "failed", "no address".
    email_status = models.CharField(max_length=16, blank=True)
    sms_status = models.CharField(max_length=16, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.subject
