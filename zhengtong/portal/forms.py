"""Forms of the site shell's pages."""

from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from zhengtong.core.actions import CalendarDayInput
from zhengtong.core.models import DayKind

# One line per day or run of days: "2027-02-05..2027-02-11 holiday 春节" or "2027-02-14 workday 春节".
_NOTICE_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.\.(\d{4}-\d{2}-\d{2}))?\s+(\S+)\s*(.*)$")
_KIND_WORDS = {"holiday": DayKind.HOLIDAY, "休": DayKind.HOLIDAY, "workday": DayKind.WORKDAY, "班": DayKind.WORKDAY}
MAX_RUN_DAYS = 31


def notice_lines(days: list[CalendarDayInput]) -> str:
    """The recorded days written back as the form's lines, one day a line."""
    return "\n".join(f"{day.date.isoformat()} {day.kind} {day.name}".strip() for day in days)


class CalendarNoticeForm(forms.Form):
    notice_title = forms.CharField(label=gettext_lazy("Notice title"), max_length=300)
    published_on = forms.DateField(label=gettext_lazy("Published on"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.CharField(
        label=gettext_lazy("Holidays and make-up working days"),
        help_text=gettext_lazy("One line each: a date or a range (2027-02-05..2027-02-11), then holiday (休) or "
                               "workday (班), then the holiday's name."),
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
    )

    def clean_days(self) -> list[CalendarDayInput]:
        parsed: list[CalendarDayInput] = []
        for number, raw in enumerate(self.cleaned_data["days"].splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            match = _NOTICE_LINE.match(line)
            kind = _KIND_WORDS.get(match.group(3).lower()) if match else None
            if match is None or kind is None:
                raise forms.ValidationError(_("Line %(number)d: write a date or range, then holiday or workday, "
                                              "then the name.") % {"number": number})
            try:
                first = dt.date.fromisoformat(match.group(1))
                last = dt.date.fromisoformat(match.group(2) or match.group(1))
            except ValueError:
                raise forms.ValidationError(_("Line %(number)d: no such date.") % {"number": number}) from None
            if not 0 <= (last - first).days < MAX_RUN_DAYS:
                raise forms.ValidationError(_("Line %(number)d: a range runs forward and spans at most %(max)d "
                                              "days.") % {"number": number, "max": MAX_RUN_DAYS})
            name = match.group(4).strip()
            parsed.extend(CalendarDayInput(first + dt.timedelta(days=offset), kind, name)
                          for offset in range((last - first).days + 1))
        return parsed
