"""Who the visitor is (their persona) and the navigation they may use.

Navigation lists only pages that exist: a URL name that does not resolve yet is left out, so the menu never
links to a feature that has not been built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from zhengtong.identity import roles
from zhengtong.services.notify import unread_count

PUBLIC = "public"
CITIZEN = "citizen"
STAFF = "staff"
DATA_OFFICER = "data_officer"
AUDITOR = "auditor"
LEADER = "leader"
ADMIN = "admin"
PERSONAS = (PUBLIC, CITIZEN, STAFF, DATA_OFFICER, AUDITOR, LEADER, ADMIN)

PERSONA_LABELS = {
    PUBLIC: _("visitor"),
    CITIZEN: _("citizen or business"),
    STAFF: _("staff"),
    DATA_OFFICER: _("data officer"),
    AUDITOR: _("auditor"),
    LEADER: _("leader"),
    ADMIN: _("platform administrator"),
}

# Published by the API app (Django Ninja); listed only once the path resolves.
API_DOCS_PATH = "/api/v1/docs"

_CACHE_ATTRIBUTE = "_zhengtong_persona"

# Roles whose tasks come to the services workbench (a process's user tasks name one of them).
WORKBENCH_ROLES = frozenset({roles.WINDOW_STAFF, roles.APPROVER})


def group_names(user: Any) -> frozenset[str]:
    """The names of the user's groups (their roles), read once per user object."""
    if not getattr(user, "is_authenticated", False):
        return frozenset()
    cached = getattr(user, "_zhengtong_group_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._zhengtong_group_names = cached
    return cached


def persona_of(user: Any) -> str:
    """One of PERSONAS for this user; "public" for a visitor who is not logged in.

    A superuser is an administrator whatever their kind (createsuperuser leaves the default kind). Otherwise
    a citizen account is a citizen, and staff are placed by their most powerful role.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return PUBLIC
    if getattr(user, "is_superuser", False):
        return ADMIN
    if getattr(user, "kind", None) == "citizen":
        return CITIZEN
    names = group_names(user)
    if roles.PLATFORM_ADMIN in names:
        return ADMIN
    if roles.AUDITOR in names:
        return AUDITOR
    if roles.LEADER in names:
        return LEADER
    if roles.DATA_OFFICER in names or roles.GOVERNANCE_OFFICER in names:
        return DATA_OFFICER
    return STAFF


def request_persona(request: HttpRequest) -> str:
    """persona_of(request.user), worked out once per request."""
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is None:
        cached = persona_of(getattr(request, "user", None))
        setattr(request, _CACHE_ATTRIBUTE, cached)
    return cached


def reverse_or_none(name: str, *args: Any, **kwargs: Any) -> str | None:
    """reverse(name), or None while the page is not part of the site yet."""
    try:
        return reverse(name, args=args or None, kwargs=kwargs or None)
    except NoReverseMatch:
        return None


def path_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@dataclass(frozen=True)
class NavItem:
    url: str
    label: str | Promise
    current: bool = False


def _is_current(path: str, url: str) -> bool:
    if url == "/":
        return path == "/"
    return path == url or path.startswith(url.rstrip("/") + "/")


def _candidates(request: HttpRequest, persona: str) -> Iterable[tuple[str | None, str | Promise]]:
    user = getattr(request, "user", None)
    yield reverse_or_none("portal:home"), _("Home")
    if persona != PUBLIC:
        yield reverse_or_none("portal:dashboard"), _("My dashboard")
    yield reverse_or_none("services:guide"), _("Service guide")
    if persona == CITIZEN:
        yield reverse_or_none("services:my_applications"), _("My applications")
        yield reverse_or_none("privacy:index"), _("My data")
        yield reverse_or_none("privacy:consents"), _("My consents")
    if persona not in (PUBLIC, CITIZEN) and WORKBENCH_ROLES & group_names(user):
        yield reverse_or_none("services:workbench"), _("Workbench")
    if persona not in (PUBLIC, CITIZEN) and user is not None and user.has_perm("services.supervise_worktask"):
        yield reverse_or_none("services:supervise"), _("Department workload")
    if persona != PUBLIC and user is not None:
        unread = unread_count(user)
        yield reverse_or_none("services:inbox"), (
            _("Inbox (%(count)d unread)") % {"count": unread} if unread else _("Inbox"))
    yield reverse_or_none("portal:departments"), _("Departments")
    yield reverse_or_none("portal:calendar"), _("Working-day calendar")
    if persona in (AUDITOR, ADMIN) and user is not None and user.has_perm("audit.view_auditentry"):
        yield reverse_or_none("audit:search"), _("Audit trail")
        yield reverse_or_none("identity:login-events"), _("Login events")
    if persona == AUDITOR:
        yield reverse_or_none("audit:alerts"), _("Anomaly alerts")
    if persona in (AUDITOR, ADMIN) and user is not None and user.has_perm("privacy.view_hiddenaccess"):
        yield reverse_or_none("privacy:hidden-accesses"), _("Hidden accesses")
    if persona in (DATA_OFFICER, ADMIN, LEADER) and user is not None and user.has_perm("catalog.view_resource"):
        yield reverse_or_none("catalog:list"), _("Data catalog")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("exchange.view_sharingrequest"):
        yield reverse_or_none("exchange:requests"), _("Sharing requests")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("exchange.view_grant"):
        yield reverse_or_none("exchange:grants"), _("Grants")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("exchange.view_dataobjection"):
        yield reverse_or_none("exchange:objections"), _("Data objections")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("exchange.view_subscription"):
        yield reverse_or_none("exchange:subscriptions"), _("Subscriptions")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("privacy.answer_objection"):
        yield reverse_or_none("privacy:objection-queue"), _("Objections to accesses")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("registries.change_record"):
        yield reverse_or_none("privacy:correction-queue"), _("Correction requests")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("exchange.view_usage"):
        yield reverse_or_none("exchange:usage"), _("Usage statistics")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("registries.view_registry"):
        yield reverse_or_none("registries:list"), _("Registries")
    if persona not in (PUBLIC, CITIZEN) and user is not None and user.has_perm("registries.view_record"):
        yield reverse_or_none("records:index"), _("Records")
    if persona in (DATA_OFFICER, ADMIN):
        yield reverse_or_none("identity:api-clients"), _("API clients")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("privacy.publish_noticeversion"):
        yield reverse_or_none("privacy:notices"), _("Privacy notices")
    if persona in (DATA_OFFICER, ADMIN) and user is not None and user.has_perm("privacy.view_dataagreement"):
        yield reverse_or_none("privacy:agreements"), _("Data agreements")
    if persona not in (PUBLIC, CITIZEN) and user is not None and user.has_perm("services.define_serviceitem"):
        yield reverse_or_none("services:item_list"), _("Service items")
    yield (API_DOCS_PATH if path_exists(API_DOCS_PATH) else None), _("API documentation")
    # Django's admin lets in only active users with is_staff, administrators included.
    if persona not in (PUBLIC, CITIZEN) and getattr(user, "is_staff", False):
        yield reverse_or_none("admin:index"), _("Administration")


def navigation_for(request: HttpRequest) -> list[NavItem]:
    """The primary navigation for this request: pages that exist and that the visitor may use. The current item
    is the one whose address matches the most of the path (/privacy/consents/ is "My consents", not "My data")."""
    persona = request_persona(request)
    found = [(url, label) for url, label in _candidates(request, persona) if url is not None]
    matching = [url for url, _label in found if _is_current(request.path, url)]
    current_url = max(matching, key=len, default=None)
    return [NavItem(url=url, label=label, current=url == current_url) for url, label in found]
