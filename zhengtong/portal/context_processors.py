"""Values every page's base layout needs: site identity, elder-friendly mode, persona and navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from zhengtong.portal.navigation import navigation_for, request_persona

ELDER_COOKIE = "elder"


def elder_mode_of(request: HttpRequest) -> bool:
    """True when the visitor asked for elder-friendly mode, on this browser or on their account."""
    if request.COOKIES.get(ELDER_COOKIE) == "1":
        return True
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "elder_mode", False))


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_ID_CODE": settings.SITE_ID_CODE,
        "elder_mode": elder_mode_of(request),
        "persona": request_persona(request),
        "navigation": navigation_for(request),
    }
