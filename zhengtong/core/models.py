"""The operators' working-day calendar: the State Council's arrangement for each year, entered by hand.

A year with an OfficialCalendarYear row is official from this table and wins over every other source (see
zhengtong.core.calendar); its CalendarDay rows list the holidays and the make-up working days (调休), and
every other day follows the week (Saturdays and Sundays are rest days).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class OfficialCalendarYear(models.Model):
    year = models.PositiveSmallIntegerField(_("year"), unique=True)
    notice_title = models.CharField(
        _("notice title"),
        max_length=300,
        blank=True,
        help_text=_("The State Council General Office notice that sets this year's holidays."),
    )
    notice_published_on = models.DateField(_("notice published on"), null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("official calendar year")
        verbose_name_plural = _("official calendar years")
        ordering = ["-year"]

    def __str__(self) -> str:
        return str(self.year)


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("holiday")
    WORKDAY = "workday", _("make-up working day")


class CalendarDay(models.Model):
    date = models.DateField(_("date"), unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=DayKind.choices)
    name = models.CharField(
        _("name"), max_length=100, blank=True, help_text=_("The holiday this day belongs to, e.g. 春节.")
    )
    year = models.ForeignKey(
        OfficialCalendarYear, on_delete=models.CASCADE, related_name="days", verbose_name=_("year")
    )

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering = ["date"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=DayKind.values), name="core_calendarday_kind_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}".strip()

    def clean(self) -> None:
        # A day filed under the wrong year would be ignored by that year and shadow nothing in its own.
        if self.date and self.year_id is not None and self.date.year != self.year.year:
            raise ValidationError({"date": _("The date must fall in the calendar year it belongs to.")})


class DeadlineNotices(models.Model):
    """For a case with deadlines in working days: the deadline a reminder and an overdue notice were last sent
    for, so each goes out once per deadline however often the worker looks."""

    reminded_for = models.DateField(null=True, blank=True, editable=False,
                                    help_text="The deadline a reminder was last sent for.")
    overdue_notice_for = models.DateField(null=True, blank=True, editable=False,
                                          help_text="The deadline an overdue notice was last sent for.")

    class Meta:
        abstract = True
