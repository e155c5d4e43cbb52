"""JSON API of the privacy notice and the disclosure policy, under /api/v1/privacy/notices/.

Anyone reads the versions; a logged-in person sees whether they must accept the privacy notice and accepts it;
the data governance office publishes new versions.
"""

from __future__ import annotations

import datetime as dt

from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from zhengtong.core.errors import NotPermitted
from zhengtong.identity.models import User
from zhengtong.privacy.actions import notices as actions
from zhengtong.privacy.models.notices import NoticeKind, NoticeVersion
from zhengtong.privacy.queries import notices as queries

router = Router(tags=["privacy"])


class VersionOut(Schema):
    kind: str
    version: int
    title: str
    body: str
    changes: str
    title_en: str
    body_en: str
    changes_en: str
    effective_on: dt.date
    published_at: dt.datetime
    published_by: str
    in_effect: bool


class NoticeOut(Schema):
    kind: str
    current: VersionOut | None
    versions: list[VersionOut]


class AcceptanceOut(Schema):
    must_accept: bool
    current_version: int | None
    accepted_version: int | None


class AcceptIn(Schema):
    version: int


class PublishIn(Schema):
    title: str
    body: str
    changes: str
    effective_on: dt.date
    title_en: str = ""
    body_en: str = ""
    changes_en: str = ""


def _kind(kind: str) -> NoticeKind:
    if kind not in NoticeKind.values:
        raise Http404
    return NoticeKind(kind)


def _out(version: NoticeVersion, current: NoticeVersion | None) -> VersionOut:
    return VersionOut(kind=version.kind, version=version.version, title=version.title, body=version.body,
                      changes=version.changes, title_en=version.title_en, body_en=version.body_en,
                      changes_en=version.changes_en, effective_on=version.effective_on,
                      published_at=version.published_at, published_by=version.published_by_name,
                      in_effect=current is not None and version.pk == current.pk)


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Only a person accepts or publishes a notice, not a department system."))
    return user


@router.get("/privacy/notices/{kind}", response=NoticeOut, auth=None, summary="A notice: the version in effect and all")
def notice(request: HttpRequest, kind: str) -> NoticeOut:
    notice_kind = _kind(kind)
    current = queries.current(notice_kind)
    return NoticeOut(kind=notice_kind, current=_out(current, current) if current else None,
                     versions=[_out(v, current) for v in queries.versions(notice_kind)])


@router.get("/privacy/notices/privacy/acceptance", response=AcceptanceOut, summary="Must I accept the privacy notice?")
def my_acceptance(request: HttpRequest) -> AcceptanceOut:
    user = _person(request)
    current = queries.current(NoticeKind.PRIVACY)
    accepted = queries.last_accepted(user)
    return AcceptanceOut(must_accept=queries.to_accept(user) is not None,
                         current_version=current.version if current else None,
                         accepted_version=accepted.version if accepted else None)


@router.post("/privacy/notices/privacy/acceptance", response=AcceptanceOut, summary="Accept the notice in effect")
def accept(request: HttpRequest, payload: AcceptIn) -> AcceptanceOut:
    user = _person(request)
    version = queries.version(NoticeKind.PRIVACY, payload.version)
    if version is None:
        raise Http404
    actions.accept_notice(user, version)
    return my_acceptance(request)


@router.post("/privacy/notices/{kind}/versions", response={201: VersionOut}, summary="Publish a new version")
def publish(request: HttpRequest, kind: str, payload: PublishIn) -> tuple[int, VersionOut]:
    version = actions.publish_notice(_person(request), actions.NoticeInput(kind=_kind(kind), **payload.model_dump()))
    return 201, _out(version, queries.current(version.kind))
