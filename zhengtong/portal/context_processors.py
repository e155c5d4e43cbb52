"""Values every page's base layout needs: site identity, elder-friendly mode, persona and navigation."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from zhengtong.core.masking import mask_name
from zhengtong.portal.navigation import CITIZEN, navigation_for, request_persona

ELDER_COOKIE = "elder"


def elder_mode_of(request: HttpRequest) -> bool:
    """True when the visitor asked for elder-friendly mode, on this browser or on their account."""
    if request.COOKIES.get(ELDER_COOKIE) == "1":
        return True
    user = getattr(request, "user", None)
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "elder_mode", False))


def display_name_of(request: HttpRequest, persona: str) -> str:
    """The name shown in the page header: a citizen's real name is masked like every other page shows it."""
    user = getattr(request, "user", None)
    if not getattr(user, "is_authenticated", False):
        return ""
    name = str(getattr(user, "display_name", "") or getattr(user, "username", ""))
    return mask_name(name) if persona == CITIZEN else name


def site(request: HttpRequest) -> dict[str, Any]:
    persona = request_persona(request)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "SITE_ID_CODE": settings.SITE_ID_CODE,
        "elder_mode": elder_mode_of(request),
        "persona": persona,
        "navigation": navigation_for(request),
        "user_display_name": display_name_of(request, persona),
    }
