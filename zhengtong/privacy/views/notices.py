"""Pages of the privacy notice and the public-data disclosure policy: the version in effect with earlier and
upcoming ones (public), the accept page citizens are sent to, and the data governance office's pages to publish
a new version."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity.models import User
from zhengtong.privacy.actions import notices as actions
from zhengtong.privacy.forms.notices import NoticeForm
from zhengtong.privacy.middleware import ACCEPTED_KEY
from zhengtong.privacy.models.notices import NoticeKind, NoticeVersion
from zhengtong.privacy.queries import notices as queries

# The public page of each kind, by URL name, and the name of its earlier versions' pages.
PAGES = {NoticeKind.PRIVACY: ("privacy:notice", "privacy:notice-version"),
         NoticeKind.DISCLOSURE: ("privacy:disclosure-policy", "privacy:disclosure-version")}
HEADING = re.compile(r"^(#{1,2})\s+(.*)$")
ITEM = re.compile(r"^[-•]\s+(.*)$")


# --- the text of a notice, as blocks a template renders (escaped, never as HTML) ---------------------------


@dataclass
class Block:
    kind: str  # "heading", "subheading", "paragraph" or "list"
    text: str = ""
    lines: list[str] = field(default_factory=list)
    anchor: str = ""


def text_blocks(text: str) -> list[Block]:
    """Plain text in blocks: blank lines separate paragraphs, "# "/"## " lines are headings, "- " lines items."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        current: Block | None = None  # the paragraph or list that the next line continues
        for line in (raw.strip() for raw in chunk.split("\n")):
            heading, item = HEADING.match(line), ITEM.match(line)
            if heading:
                level = "heading" if len(heading.group(1)) == 1 else "subheading"
                blocks.append(Block(level, text=heading.group(2), anchor=f"section-{len(blocks) + 1}"))
                current = None
            elif item:
                if current is None or current.kind != "list":
                    current = Block("list")
                    blocks.append(current)
                current.lines.append(item.group(1))
            elif line:
                if current is None or current.kind != "paragraph":
                    current = Block("paragraph")
                    blocks.append(current)
                current.lines.append(line)
    return blocks


@dataclass
class Shown:
    """A version in the words the reader's language gets: English where it was written, else the official
    Chinese text, marked with its language for screen readers."""

    version: NoticeVersion
    title: str
    text: str
    changes: str
    lang: str

    @classmethod
    def of(cls, version: NoticeVersion) -> Shown:
        if translation.get_language() == "en" and version.title_en and version.body_en:
            return cls(version, version.title_en, version.body_en, version.changes_en or version.changes, "en")
        return cls(version, version.title, version.body, version.changes, "zh-hans")

    @cached_property
    def blocks(self) -> list[Block]:
        return text_blocks(self.text)

    @property
    def contents(self) -> list[Block]:
        return [block for block in self.blocks if block.kind == "heading"]


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # login_required
    return user


def _kind_of(kind: str) -> NoticeKind:
    if kind not in NoticeKind.values:
        raise Http404
    return NoticeKind(kind)


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, request.is_secure()):
        return candidate
    return reverse("portal:dashboard")


# --- public pages --------------------------------------------------------------------------------------------


def _notice_page(request: HttpRequest, kind: NoticeKind, number: int | None = None) -> HttpResponse:
    current = queries.current(kind)
    if number is None:
        shown = current
    else:
        shown = queries.version(kind, number)
        if shown is None:
            raise Http404
    accepted = None
    if queries.is_citizen(request.user) and kind == NoticeKind.PRIVACY:
        accepted = queries.last_accepted(request.user)
    return render(request, "privacy/notices/notice.html", {
        "kind": kind, "kind_label": kind.label, "shown": Shown.of(shown) if shown is not None else None,
        "current": current, "upcoming": queries.upcoming(kind),
        "versions": [Shown.of(v) for v in queries.versions(kind)], "page_name": PAGES[kind][0],
        "version_page": PAGES[kind][1], "accepted": accepted,
        "can_publish": request.user.has_perm(actions.PUBLISH_PERMISSION),
        "must_accept": kind == NoticeKind.PRIVACY and queries.to_accept(request.user) is not None,
    })


def privacy_notice(request: HttpRequest) -> HttpResponse:
    return _notice_page(request, NoticeKind.PRIVACY)


def privacy_notice_version(request: HttpRequest, number: int) -> HttpResponse:
    return _notice_page(request, NoticeKind.PRIVACY, number)


def disclosure_policy(request: HttpRequest) -> HttpResponse:
    return _notice_page(request, NoticeKind.DISCLOSURE)


def disclosure_policy_version(request: HttpRequest, number: int) -> HttpResponse:
    return _notice_page(request, NoticeKind.DISCLOSURE, number)


# --- accepting the privacy notice ----------------------------------------------------------------------------


@login_required
def accept(request: HttpRequest) -> HttpResponse:
    """What the citizen is asked to accept and, after a change, what changed since the version they accepted."""
    user = _user(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    notice = queries.current(NoticeKind.PRIVACY)
    if notice is None or queries.has_accepted(user, notice):
        return redirect(next_url)
    error = ""
    if request.method == "POST":
        if request.POST.get("notice") == str(notice.pk):
            try:
                actions.accept_notice(user, notice)
            except (Conflict, NotPermitted) as refused:
                error = refused.message
            else:
                request.session[ACCEPTED_KEY] = notice.pk
                messages.success(request, _("Thank you. You accepted version %(version)d of the privacy notice.")
                                 % {"version": notice.version})
                return redirect(next_url)
        else:
            error = _("The privacy notice changed while you were reading it. Please read this version.")
    accepted = queries.last_accepted(user)
    return render(request, "privacy/notices/accept.html", {
        "notice": Shown.of(notice), "accepted": accepted, "next": next_url, "error": error,
        "changes": [Shown.of(v) for v in queries.changes_since(accepted, notice)],
    }, status=409 if error else 200)


# --- the data governance office: publishing a new version ----------------------------------------------------


def _require_publisher(user: User) -> None:
    if not user.has_perm(actions.PUBLISH_PERMISSION):
        raise PermissionDenied


@login_required
def manage(request: HttpRequest) -> HttpResponse:
    """Each kind's version in effect, upcoming versions, and how many have accepted the privacy notice."""
    _require_publisher(_user(request))
    rows = []
    for kind in NoticeKind:
        current = queries.current(kind)
        rows.append({"kind": kind, "current": current, "upcoming": queries.upcoming(kind),
                     "page": PAGES[kind][0], "version_page": PAGES[kind][1],
                     "acceptances": queries.acceptance_count(current) if current is not None and
                     kind == NoticeKind.PRIVACY else None})
    return render(request, "privacy/notices/manage.html", {"rows": rows})


def _initial(kind: NoticeKind) -> dict[str, Any]:
    """A revision starts from the latest version's text; its summary of changes and date start empty."""
    latest = queries.versions(kind).first()
    initial: dict[str, Any] = {"effective_on": timezone.localdate()}
    if latest is not None:
        initial.update(title=latest.title, body=latest.body, title_en=latest.title_en, body_en=latest.body_en)
    return initial


@login_required
def publish(request: HttpRequest, kind: str) -> HttpResponse:
    user = _user(request)
    _require_publisher(user)
    notice_kind = _kind_of(kind)
    form = NoticeForm(request.POST or None, initial=_initial(notice_kind))
    if request.method == "POST" and form.is_valid():
        try:
            version = actions.publish_notice(user, form.notice_input(notice_kind))
        except InvalidInput as error:
            form.show_problems(error)
        except (Conflict, NotPermitted) as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, _("Version %(version)d of the %(kind)s is published. It takes effect on "
                                        "%(day)s.") % {"version": version.version, "kind": notice_kind.label,
                                                        "day": version.effective_on.isoformat()})
            return redirect(PAGES[notice_kind][1], number=version.version)
    latest = queries.versions(notice_kind).first()
    return render(request, "privacy/notices/publish.html", {
        "form": form, "kind": notice_kind, "latest": latest, "error_forms": [form],
        "has_errors": form.is_bound and bool(form.errors),
    }, status=422 if form.is_bound and form.errors else 200)


urlpatterns = [
    path("notice/", privacy_notice, name="notice"),
    path("notice/v<int:number>/", privacy_notice_version, name="notice-version"),
    path("notice/accept/", accept, name="accept"),
    path("disclosure-policy/", disclosure_policy, name="disclosure-policy"),
    path("disclosure-policy/v<int:number>/", disclosure_policy_version, name="disclosure-version"),
    path("notices/", manage, name="notices"),
    path("notices/<str:kind>/publish/", publish, name="publish-notice"),
]
