"""`{% deadline value %}`: a deadline's date, marked when it was counted on a provisional calendar.

Usage: `{% load deadlines %}` then `{% deadline application.deadline %}`, where the value is a
zhengtong.core.calendar.Deadline (or None, which renders nothing).
"""

from django import template
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from zhengtong.core.calendar import Deadline

register = template.Library()


@register.simple_tag
def deadline(value: Deadline | None) -> SafeString:
    if value is None:
        return SafeString("")
    when = format_html(
        '<time datetime="{}">{}</time>', value.date.isoformat(), date_format(value.date, "DATE_FORMAT")
    )
    if not value.provisional:
        return when
    # The year's official holidays are not published yet, so the date may still move; say so on the page.
    return format_html(
        '{} <span class="badge badge-provisional" title="{}">{}</span>',
        when,
        _("This year's official holiday arrangement is not yet published; the date may change."),
        _("provisional calendar"),
    )
