"""Accesses hidden from the data subject until a date (hidden-until).

An investigator with the right may keep one access to a citizen's data out of that citizen's "who used my
data" until a disclosure date, so that an investigation is not tipped off. The audit entry itself is never
changed or deleted: a hiding is a row of its own pointing at the entry, auditors see it from the start, and
the citizen sees the access (with who hid it and why) from the disclosure date on. A hiding is never edited;
extending it is a new hiding with its own reason, and the latest date of an entry's hidings is the one that
counts.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from zhengtong.audit.models import AuditEntry

__all__ = ["HiddenAccess"]


class HiddenAccess(models.Model):
    entry = models.ForeignKey(AuditEntry, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+",
                              verbose_name=_("access"))
    hidden_until = models.DateField(_("hidden until"))
    reason = models.TextField(_("reason"))
    case_reference = models.CharField(_("case reference"), max_length=100)
    hidden_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("hidden by"))
    # As the trail names them, so the row still says who hid it after accounts and departments change.
    hidden_by_name = models.CharField(_("hidden by"), max_length=200)
    hidden_by_department = models.CharField(_("department"), max_length=32, blank=True)
    hidden_by_roles = models.CharField(_("roles"), max_length=200, blank=True)
    hidden_at = models.DateTimeField(_("hidden at"), default=timezone.now)
    # The audit entry that records this hiding.
    audit_entry_id = models.BigIntegerField(_("audit entry of the hiding"))

    class Meta:
        verbose_name = _("hidden access")
        verbose_name_plural = _("hidden accesses")
        ordering = ["-hidden_at", "-id"]
        indexes = [models.Index(fields=["entry", "hidden_until"])]

    def __str__(self) -> str:
        return f"#{self.entry_id} until {self.hidden_until:%Y-%m-%d}"
