"""Privacy notices (隐私政策) and the public-data disclosure policy (公共数据开放政策): numbered versions, each
fixed once published, and citizens' acceptances of the privacy notice.

A version's text is data, not code: written in Chinese (the official text) with an optional English version.
Bodies are plain text (blank lines between paragraphs, "# " and "## " for headings, "- " for list items) and are
never rendered as HTML from the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = ["NoticeAcceptance", "NoticeKind", "NoticeVersion", "PublishedVersionIsFixed"]


class NoticeKind(models.TextChoices):
    PRIVACY = "privacy", _("privacy notice")
    DISCLOSURE = "disclosure", _("public-data disclosure policy")


class PublishedVersionIsFixed(RuntimeError):
    """A published version was about to be changed or deleted: publish a new version instead."""


class NoticeVersion(models.Model):
    """One published version of a notice. The current version of a kind is the highest-numbered one whose
    effective date has come; a later one waits as upcoming."""

    kind = models.CharField(_("kind"), max_length=16, choices=NoticeKind.choices)
    version = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"))
    changes = models.TextField(_("what changed"))
    title_en = models.CharField(_("English title"), max_length=200, blank=True)
    body_en = models.TextField(_("English text"), blank=True)
    changes_en = models.TextField(_("what changed, in English"), blank=True)
    effective_on = models.DateField(_("effective from"))
    published_at = models.DateTimeField(_("published at"))
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    published_by_name = models.CharField(_("published by"), max_length=200)

    class Meta:
        verbose_name = _("notice version")
        verbose_name_plural = _("notice versions")
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="privacy_notice_version_unique")]
        indexes = [models.Index(fields=["kind", "effective_on"], name="privacy_notice_effective_idx")]
        permissions = [("publish_noticeversion", "Publish a new version of the privacy notice or disclosure policy")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PublishedVersionIsFixed(f"{self} is published; publish a new version instead")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PublishedVersionIsFixed(f"{self} is published and is kept")

    def in_effect_on(self, day: dt.date) -> bool:
        return self.effective_on <= day


class NoticeAcceptance(models.Model):
    """A person accepted a version of the privacy notice: when, and from which address."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_acceptances")
    notice = models.ForeignKey(NoticeVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(_("accepted at"))
    client_address = models.GenericIPAddressField(_("from address"), null=True, blank=True)

    class Meta:
        verbose_name = _("acceptance of a notice")
        verbose_name_plural = _("acceptances of notices")
        ordering = ["-accepted_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "notice"], name="privacy_acceptance_once")]

    def __str__(self) -> str:
        return f"{self.user_id} accepted {self.notice_id}"
