"""Processes (BPMN 2.0) and decision tables (DMN) as uploaded, versioned: an application runs on the version it
started with, so a new upload never changes a process under way."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["DecisionDefinition", "ProcessDefinition"]


class ProcessDefinition(models.Model):
    """One version of a BPMN process, kept as the file that was uploaded (a modeler opens it unchanged)."""

    key = models.CharField(_("process id"), max_length=100, help_text=_("The id of the executable process."))
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    bpmn_xml = models.TextField(_("BPMN file"))
    digest = models.CharField(max_length=64, editable=False)  # SHA-256 of the file, to spot re-uploads
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by_name = models.CharField(_("uploaded by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("process")
        verbose_name_plural = _("processes")
        ordering = ["key", "-version"]
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="services_process_key_version")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key} v{self.version})"


class DecisionDefinition(models.Model):
    """One version of a DMN decision table, for automatic approval (秒批)."""

    key = models.CharField(_("decision id"), max_length=100)
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    dmn_xml = models.TextField(_("DMN file"))
    digest = models.CharField(max_length=64, editable=False)
    uploaded_at = models.DateTimeField(_("uploaded at"))
    uploaded_by_name = models.CharField(_("uploaded by"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("decision table")
        verbose_name_plural = _("decision tables")
        ordering = ["key", "-version"]
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="services_decision_key_version")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key} v{self.version})"


