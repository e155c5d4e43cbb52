"""Operators keep the working-day calendar here: one official year, with its holidays and make-up days.

A year added here replaces every other source for that year (see zhengtong.core.calendar), so enter all of
its holidays and make-up working days from the State Council notice.
"""

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from zhengtong.core.models import CalendarDay, DayKind, OfficialCalendarYear


class CalendarDayInline(admin.TabularInline):
    model = CalendarDay
    fields = ["date", "kind", "name"]
    extra = 3
    ordering = ["date"]


@admin.register(OfficialCalendarYear)
class OfficialCalendarYearAdmin(admin.ModelAdmin):
    list_display = ["year", "notice_title", "notice_published_on", "holiday_count", "make_up_day_count"]
    search_fields = ["notice_title"]
    readonly_fields = ["recorded_at"]
    inlines = [CalendarDayInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OfficialCalendarYear]:
        # Counted in the list query itself, not one query per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                holidays=Count("days", filter=Q(days__kind=DayKind.HOLIDAY)),
                make_up_days=Count("days", filter=Q(days__kind=DayKind.WORKDAY)),
            )
        )

    @admin.display(description=_("holidays"), ordering="holidays")
    def holiday_count(self, obj: OfficialCalendarYear) -> int:
        return int(obj.holidays)  # annotated by get_queryset

    @admin.display(description=_("make-up working days"), ordering="make_up_days")
    def make_up_day_count(self, obj: OfficialCalendarYear) -> int:
        return int(obj.make_up_days)  # annotated by get_queryset


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "name", "year"]
    list_filter = ["year", "kind"]
    search_fields = ["name"]
    date_hierarchy = "date"
    list_select_related = ["year"]
