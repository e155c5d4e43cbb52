"""Log out a session left idle longer than ZHENGTONG_SESSION_IDLE_MINUTES."""

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from zhengtong.identity.actions import expire_idle_session

LAST_ACTIVITY_KEY = "identity.last_activity"


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last = request.session.get(LAST_ACTIVITY_KEY, now)
            if now - last > settings.SESSION_IDLE_SECONDS:
                expire_idle_session(request)
                messages.info(request, _("You were logged out after a period of inactivity."))
                if request.path.startswith("/api/"):
                    return self.get_response(request)
                return redirect_to_login(request.get_full_path())
            request.session[LAST_ACTIVITY_KEY] = now
        return self.get_response(request)
