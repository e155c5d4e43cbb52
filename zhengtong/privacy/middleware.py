"""Send a logged-in citizen who has not accepted the privacy notice in effect to the accept page, at first login
and again whenever a new version takes effect.

Staff are not asked: they are bound by the notice through their employment and their training records. Machine
clients (/api/, /govstack/) are never redirected, nor are the pages a person needs to read the notice, decide, or
leave (the notices themselves, logout, language and elder-mode switches, static files). With no privacy notice
published there is nothing to accept, and nothing happens.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse

from zhengtong.privacy.models.notices import NoticeKind
from zhengtong.privacy.queries import notices

ACCEPTED_KEY = "privacy.accepted_notice"
# Path prefixes a citizen reaches without accepting. The notice pages are added from the URLconf on first use.
OPEN_PREFIXES = ("/api/", "/govstack/", "/static/", "/i18n/", "/healthz", "/readyz", "/metrics")
OPEN_URL_NAMES = ("identity:logout", "identity:login", "portal:elder-mode", "portal:accessibility",
                  "privacy:notice", "privacy:disclosure-policy")


def _open_prefixes() -> tuple[str, ...]:
    """Fixed prefixes, plus the pages named above (each with everything below it: earlier versions)."""
    named = []
    for name in OPEN_URL_NAMES:
        try:
            named.append(reverse(name))
        except NoReverseMatch:  # a page not part of this site leaves nothing to open
            continue
    return (*OPEN_PREFIXES, *named)


class NoticeAcceptanceMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self._open: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if notices.is_citizen(getattr(request, "user", None)) and not self._is_open(request.path):
            redirect = self._to_accept_page(request)
            if redirect is not None:
                return redirect
        return self.get_response(request)

    def _is_open(self, path: str) -> bool:
        if self._open is None:
            self._open = _open_prefixes()
        return path.startswith(self._open)

    def _to_accept_page(self, request: HttpRequest) -> HttpResponse | None:
        notice = notices.current(NoticeKind.PRIVACY)
        if notice is None or request.session.get(ACCEPTED_KEY) == notice.pk:
            return None
        if notices.has_accepted(request.user, notice):
            # Remembered for the session, so a citizen who has accepted costs one small query a request.
            request.session[ACCEPTED_KEY] = notice.pk
            return None
        url = reverse("privacy:accept")
        if request.method in ("GET", "HEAD"):
            url += "?" + urlencode({"next": request.get_full_path()})
        if request.headers.get("HX-Request"):
            # htmx would swap the accept page into a fragment; have it load the whole page instead.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)
