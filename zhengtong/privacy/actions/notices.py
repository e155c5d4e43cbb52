"""Publishing notices and accepting the privacy notice. A published version is never changed: a revision is a
new version with its own effective date and a summary of what changed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.core.context import current_request
from zhengtong.core.errors import Conflict, FieldProblem, NotPermitted, raise_if_problems
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import User
from zhengtong.privacy.models.notices import NoticeAcceptance, NoticeKind, NoticeVersion

PUBLISH_PERMISSION = "privacy.publish_noticeversion"
TITLE_LIMIT = 200
TEXT_LIMIT = 100_000


@dataclass(frozen=True)
class NoticeInput:
    """A new version as its publisher writes it. The Chinese text is the official one; English is optional."""

    kind: str
    title: str
    body: str
    changes: str
    effective_on: dt.date | None
    title_en: str = ""
    body_en: str = ""
    changes_en: str = ""


def _text_problems(name: str, value: str, *, required: bool, limit: int) -> list[FieldProblem]:
    if "\x00" in value:
        return [FieldProblem(name, _("The text contains a character that cannot be stored (NUL)."))]
    if required and not value.strip():
        return [FieldProblem(name, _("This cannot be empty."))]
    if len(value) > limit:
        return [FieldProblem(name, _("Keep it to %(limit)d characters or fewer.") % {"limit": limit})]
    return []


def check_notice(notice: NoticeInput, previous: NoticeVersion | None) -> list[FieldProblem]:
    """Every problem with a new version, named by field."""
    if notice.kind not in NoticeKind.values:
        return [FieldProblem("kind", _("Choose one of: %(choices)s.") % {"choices": ", ".join(NoticeKind.values)})]
    problems = [
        *_text_problems("title", notice.title, required=True, limit=TITLE_LIMIT),
        *_text_problems("body", notice.body, required=True, limit=TEXT_LIMIT),
        *_text_problems("changes", notice.changes, required=True, limit=TEXT_LIMIT),
        *_text_problems("title_en", notice.title_en, required=bool(notice.body_en.strip()), limit=TITLE_LIMIT),
        *_text_problems("body_en", notice.body_en, required=bool(notice.title_en.strip()), limit=TEXT_LIMIT),
        *_text_problems("changes_en", notice.changes_en, required=False, limit=TEXT_LIMIT),
    ]
    today = timezone.localdate()
    if notice.effective_on is None:
        problems.append(FieldProblem("effective_on", _("Give the day the version takes effect.")))
    elif notice.effective_on < today:
        problems.append(FieldProblem("effective_on", _("A version cannot take effect in the past.")))
    elif previous is not None and notice.effective_on < previous.effective_on:
        problems.append(FieldProblem("effective_on", _(
            "Version %(version)d takes effect on %(day)s; a later version cannot take effect before it.") % {
            "version": previous.version, "day": previous.effective_on.isoformat()}))
    return problems


def publish_notice(actor: User | None, notice: NoticeInput) -> NoticeVersion:
    """Publish the next version of a notice. Citizens are asked to accept a new privacy notice from its
    effective date on."""
    require_permission(actor, PUBLISH_PERMISSION)
    try:
        with transaction.atomic():
            previous = (NoticeVersion.objects.select_for_update().filter(kind=notice.kind)
                        .order_by("-version").first())
            raise_if_problems(check_notice(notice, previous))
            assert notice.effective_on is not None  # checked above
            version = NoticeVersion.objects.create(
                kind=notice.kind, version=(previous.version + 1) if previous else 1, title=notice.title.strip(),
                body=notice.body.strip(), changes=notice.changes.strip(), title_en=notice.title_en.strip(),
                body_en=notice.body_en.strip(), changes_en=notice.changes_en.strip(),
                effective_on=notice.effective_on, published_at=timezone.now(), published_by=actor,
                published_by_name=actor.display_name if actor is not None else _("the platform"))
            audit.record("privacy.publish_notice", actor_of(actor), object_type="noticeversion",
                         object_id=version.pk, detail={"kind": version.kind, "version": version.version,
                                                       "effective_on": version.effective_on.isoformat()})
    except IntegrityError:
        # Two publishers at once: the other took this version number.
        raise Conflict(_("Another version was published at the same moment. Reload and try again.")) from None
    return version


def accept_notice(user: User, notice: NoticeVersion) -> NoticeAcceptance:
    """Record that a logged-in person accepts the privacy notice in effect. Accepting it again changes nothing."""
    if not getattr(user, "is_authenticated", False):
        raise NotPermitted(_("Log in to accept the privacy notice."))
    if notice.kind != NoticeKind.PRIVACY or not notice.in_effect_on(timezone.localdate()):
        raise Conflict(_("Only the privacy notice in effect can be accepted."))
    with transaction.atomic():
        latest = (NoticeVersion.objects.filter(kind=notice.kind, effective_on__lte=timezone.localdate())
                  .order_by("-version").values_list("pk", flat=True).first())
        if latest != notice.pk:
            raise Conflict(_("A newer version of the privacy notice is in effect. Read it and accept that one."))
        acceptance, created = NoticeAcceptance.objects.get_or_create(
            user=user, notice=notice,
            defaults={"accepted_at": timezone.now(), "client_address": current_request().client_address})
        if created:
            audit.record("privacy.accept_notice", actor_of(user), object_type="noticeversion", object_id=notice.pk,
                         detail={"kind": notice.kind, "version": notice.version})
    return acceptance
