"""Proxied department APIs: each upstream the gateway calls (one per origin, scheme://host:port), with its
circuit breaker and its failure counters.

The breaker's state lives here, in the database, so that every web process sees the same state: a circuit
opened by one process stops the calls of all of them, and exactly one process wins the trial call of a half-open
circuit (a conditional UPDATE decides). Counters move in single UPDATE statements, never read-modify-write.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["CircuitState", "Upstream"]


class CircuitState(models.TextChoices):
    CLOSED = "closed", _("closed: calls go through")
    OPEN = "open", _("open: calls are refused until the cool-down ends")
    HALF_OPEN = "half_open", _("half-open: one trial call is under way")


class Upstream(models.Model):
    """A department API server behind the gateway, named by its origin."""

    origin = models.CharField(_("origin"), max_length=300, unique=True,
                              help_text=_("scheme://host:port of the department's API."))
    state = models.CharField(_("circuit"), max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(_("failures in a row"), default=0)
    opened_at = models.DateTimeField(_("circuit opened at"), null=True, blank=True)
    trial_started_at = models.DateTimeField(_("trial call started at"), null=True, blank=True)
    calls = models.PositiveBigIntegerField(_("calls answered"), default=0)
    failures = models.PositiveBigIntegerField(_("failed calls"), default=0,
                                              help_text=_("Errors and timeouts, each call counted once."))
    timeouts = models.PositiveBigIntegerField(_("timed-out calls"), default=0)
    rejected = models.PositiveBigIntegerField(_("calls refused by the open circuit"), default=0)
    retries = models.PositiveBigIntegerField(_("retried attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    last_error_code = models.CharField(_("code of the last error"), max_length=32, blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("upstream API")
        verbose_name_plural = _("upstream APIs")
        ordering = ["origin"]

    def __str__(self) -> str:
        return f"{self.origin} ({self.state})"
