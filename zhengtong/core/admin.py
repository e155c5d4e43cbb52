"""The operators' working-day calendar, shown read-only.

Years are recorded through publish_calendar_year (the "record a year" page beside the public calendar, or
PUT /api/v1/calendar/years/{year}), which checks the whole notice at once and replaces the year atomically.
"""

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from zhengtong.core.models import CalendarDay, DayKind, OfficialCalendarYear


class ReadOnly:
    """Admin pages that show records whose changes go through actions elsewhere."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class CalendarDayInline(ReadOnly, admin.TabularInline):
    model = CalendarDay
    fields = ["date", "kind", "name"]
    ordering = ["date"]


@admin.register(OfficialCalendarYear)
class OfficialCalendarYearAdmin(ReadOnly, admin.ModelAdmin):
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
        return int(getattr(obj, "holidays"))  # noqa: B009 (annotated by get_queryset)

    @admin.display(description=_("make-up working days"), ordering="make_up_days")
    def make_up_day_count(self, obj: OfficialCalendarYear) -> int:
        return int(getattr(obj, "make_up_days"))  # noqa: B009 (annotated by get_queryset)


@admin.register(CalendarDay)
class CalendarDayAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["date", "kind", "name", "year"]
    list_filter = ["year", "kind"]
    search_fields = ["name"]
    date_hierarchy = "date"
    list_select_related = ["year"]
