"""Usage statistics of the exchange: calls of department systems to the gateway and the GovStack Digital Registries
API, counted per day in daily aggregates rather than one row a call.

A row is one (day, resource, consumer, provider, outcome, reason): how many calls, their summed latency, and how
many fell into each bucket of a fixed log-scale latency histogram, from which percentiles are estimated
(queries/usage.py). The day is the local date (Asia/Shanghai) on which the call began.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from zhengtong.catalog.models import Resource
from zhengtong.identity.models import Department

__all__ = ["LATENCY_BOUNDS_MS", "LATENCY_COLUMNS", "Outcome", "UsageDay"]

# Upper bounds (inclusive, in milliseconds) of the latency buckets; a last, open bucket holds anything slower.
LATENCY_BOUNDS_MS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
LATENCY_COLUMNS: tuple[str, ...] = (*(f"le_{bound}ms" for bound in LATENCY_BOUNDS_MS), "le_inf")


class Outcome(models.TextChoices):
    OK = "ok", _("answered")
    REFUSED = "refused", _("refused")
    ERROR = "error", _("error")


class UsageDay(models.Model):
    """Calls of one consumer department to one resource on one day with one outcome and reason."""

    day = models.DateField(_("day"))
    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("data resource"))
    consumer = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("consumer department"))
    provider = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("provider department"))
    outcome = models.CharField(_("outcome"), max_length=8, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=40, blank=True)  # the error body's code; "" when answered
    calls = models.PositiveBigIntegerField(_("calls"), default=0)
    latency_us = models.PositiveBigIntegerField(_("total latency (µs)"), default=0)
    le_1ms = models.PositiveBigIntegerField(default=0)
    le_2ms = models.PositiveBigIntegerField(default=0)
    le_5ms = models.PositiveBigIntegerField(default=0)
    le_10ms = models.PositiveBigIntegerField(default=0)
    le_20ms = models.PositiveBigIntegerField(default=0)
    le_50ms = models.PositiveBigIntegerField(default=0)
    le_100ms = models.PositiveBigIntegerField(default=0)
    le_200ms = models.PositiveBigIntegerField(default=0)
    le_500ms = models.PositiveBigIntegerField(default=0)
    le_1000ms = models.PositiveBigIntegerField(default=0)
    le_2000ms = models.PositiveBigIntegerField(default=0)
    le_5000ms = models.PositiveBigIntegerField(default=0)
    le_10000ms = models.PositiveBigIntegerField(default=0)
    le_inf = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        permissions = [("view_usage", _("Can view usage statistics of the exchange"))]
        constraints = [models.UniqueConstraint(fields=["day", "resource", "consumer", "provider", "outcome", "reason"],
                                               name="exchange_usageday_unique")]
        indexes = [models.Index(fields=["day", "consumer"], name="exchange_usage_day_consumer"),
                   models.Index(fields=["day", "provider"], name="exchange_usage_day_provider")]

    def __str__(self) -> str:
        return f"{self.day} {self.resource_id} {self.consumer_id} {self.outcome} {self.reason}: {self.calls}"
