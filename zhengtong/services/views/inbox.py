"""The inbox: every logged-in person's notifications from online services (applicants and staff alike), unread
first. Opening an unread notification is a POST (it marks it read); anyone else's notification is a 404.

`unread_notifications` is a context processor for the portal's navigation: the count is only queried when a
template uses it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from zhengtong.identity.models import User
from zhengtong.services import notify
from zhengtong.services.actions import notifications as actions

PER_PAGE = 25


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    page = Paginator(notify.inbox_of(user), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "services/inbox/list.html", {
        "page": page, "unread": notify.unread_count(user), "query": ""})


@login_required
@require_http_methods(["GET", "POST"])
def notification(request: HttpRequest, pk: int) -> HttpResponse:
    """GET shows the notification; POST with action=mark_read opens it (marks it read) and shows it."""
    user = _user(request)
    try:
        if request.method == "POST":
            if request.POST.get("action") != "mark_read":
                raise Http404
            actions.mark_read(user, pk)
            return redirect("services:notification", pk)
        note = actions.own_notification(user, pk)
    except actions.NotificationNotFound:
        raise Http404 from None
    return render(request, "services/inbox/detail.html", {"note": note})


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    count = actions.mark_all_read(_user(request))
    if count:
        messages.success(request, ngettext("%(count)d notification marked as read.",
                                           "%(count)d notifications marked as read.", count) % {"count": count})
    else:
        messages.info(request, _("You have no unread notifications."))
    return redirect("services:inbox")


def unread_notifications(request: HttpRequest) -> dict[str, Any]:
    """Context processor: `unread_notifications`, the visitor's unread count (0 when not logged in)."""
    user = getattr(request, "user", None)

    def count() -> int:
        return notify.unread_count(user) if isinstance(user, User) and user.is_authenticated else 0

    return {"unread_notifications": SimpleLazyObject(count)}


urlpatterns: list = [
    path("inbox/", inbox, name="inbox"),
    path("inbox/read-all/", mark_all_read, name="inbox-read-all"),
    path("inbox/<int:pk>/", notification, name="notification"),
]
