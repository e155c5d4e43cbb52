"""The form to publish a new version of a notice. It parses what the publisher types; the rules live in
privacy.actions.notices, whose problems are shown next to the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from zhengtong.core.errors import InvalidInput
from zhengtong.privacy.actions.notices import TITLE_LIMIT, NoticeInput

FORMAT_HELP = _("Plain text. Leave a blank line between paragraphs; start a line with \"# \" for a heading, "
                "\"## \" for a subheading and \"- \" for an item of a list.")


class NoticeForm(forms.Form):
    title = forms.CharField(label=_("Title (Chinese, the official text)"), max_length=TITLE_LIMIT)
    body = forms.CharField(label=_("Text (Chinese)"), help_text=FORMAT_HELP, strip=False,
                           widget=forms.Textarea(attrs={"rows": 20}))
    changes = forms.CharField(
        label=_("What changed (Chinese)"), widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Shown to citizens who accepted an earlier version, before they are asked to accept again."))
    effective_on = forms.DateField(label=_("Takes effect on"), widget=forms.DateInput(attrs={"type": "date"},
                                                                                     format="%Y-%m-%d"),
                                   help_text=_("Today or later. Citizens are asked to accept from that day on."))
    title_en = forms.CharField(label=_("Title in English"), max_length=TITLE_LIMIT, required=False)
    body_en = forms.CharField(label=_("Text in English"), required=False, strip=False, help_text=FORMAT_HELP,
                              widget=forms.Textarea(attrs={"rows": 12}))
    changes_en = forms.CharField(label=_("What changed, in English"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))

    def notice_input(self, kind: str) -> NoticeInput:
        data: dict[str, Any] = self.cleaned_data
        return NoticeInput(kind=kind, title=data["title"], body=data["body"], changes=data["changes"],
                           effective_on=data["effective_on"], title_en=data["title_en"], body_en=data["body_en"],
                           changes_en=data["changes_en"])

    def show_problems(self, error: InvalidInput) -> None:
        for problem in error.details:
            self.add_error(problem.field if problem.field in self.fields else None, problem.reason)
        if not error.details:
            self.add_error(None, error.message)
