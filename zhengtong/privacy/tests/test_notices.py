"""Privacy notices: the data governance office publishes numbered versions that never change afterwards; a citizen
is sent to accept the notice in effect at first login and again when a new version takes effect, and lands where
they were going; machine clients, staff and the pages needed to read and decide are never redirected."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.core.errors import Conflict, InvalidInput, NotPermitted
from zhengtong.identity.models import User
from zhengtong.privacy import demo_notices
from zhengtong.privacy.actions import notices as actions
from zhengtong.privacy.models.notices import NoticeAcceptance, NoticeKind, NoticeVersion, PublishedVersionIsFixed
from zhengtong.privacy.queries import notices as queries
from zhengtong.privacy.views.notices import text_blocks

pytestmark = pytest.mark.django_db

BODY = "开头说明。\n\n# 一、收集什么\n- 姓名\n- 身份证号\n\n# 二、你的权利\n你可以随时撤回同意。"


def notice(kind: str = NoticeKind.PRIVACY, *, title: str = "隐私政策", body: str = BODY, changes: str = "首次发布。",
           effective_on: dt.date | None = None, **english: str) -> actions.NoticeInput:
    return actions.NoticeInput(kind=kind, title=title, body=body, changes=changes,
                               effective_on=effective_on or timezone.localdate(), **english)


@pytest.fixture
def publish(governance: User) -> Callable[..., NoticeVersion]:
    def make(kind: str = NoticeKind.PRIVACY, **values: Any) -> NoticeVersion:
        return actions.publish_notice(governance, notice(kind, **values))

    return make


def english() -> Client:
    return Client(HTTP_ACCEPT_LANGUAGE="en")


def logged_in(user: User) -> Client:
    client = english()
    client.force_login(user)
    return client


def accept_url(next_url: str) -> str:
    return f"{reverse('privacy:accept')}?next={next_url.replace('/', '%2F')}"


# --- publishing --------------------------------------------------------------------------------------------


def test_versions_are_numbered_per_kind_and_publishing_is_audited(publish: Callable[..., NoticeVersion],
                                                                  governance: User) -> None:
    first = publish()
    second = publish(changes="新增同意撤回说明。")
    policy = publish(NoticeKind.DISCLOSURE, title="公共数据开放政策")
    assert (first.version, second.version, policy.version) == (1, 2, 1)
    assert second.published_by == governance and second.published_by_name == governance.display_name
    entry = AuditEntry.objects.filter(action="privacy.publish_notice").order_by("-id").first()
    assert entry is not None and entry.object_id == str(policy.pk)
    assert entry.detail == {"kind": "disclosure", "version": 1, "effective_on": timezone.localdate().isoformat()}
    assert queries.current(NoticeKind.PRIVACY) == second


def test_a_published_version_cannot_be_changed_or_deleted(publish: Callable[..., NoticeVersion]) -> None:
    version = publish()
    version.body = "改过的内容"
    with pytest.raises(PublishedVersionIsFixed):
        version.save()
    with pytest.raises(PublishedVersionIsFixed):
        version.delete()
    version.refresh_from_db()
    assert version.body == BODY.strip()


def test_only_the_governance_office_publishes(citizen_user: User, provider_officer: User) -> None:
    for person in (citizen_user, provider_officer):
        with pytest.raises(NotPermitted):
            actions.publish_notice(person, notice())
    assert not NoticeVersion.objects.exists()


def test_bad_input_names_each_field_and_publishes_nothing(publish: Callable[..., NoticeVersion],
                                                          governance: User) -> None:
    publish(effective_on=timezone.localdate() + dt.timedelta(days=10))
    with pytest.raises(InvalidInput) as refused:
        actions.publish_notice(governance, notice(title=" ", body="", changes="x\x00",
                                                  effective_on=timezone.localdate() + dt.timedelta(days=3),
                                                  title_en="Privacy notice"))
    fields = {problem.field for problem in refused.value.details}
    assert fields == {"title", "body", "changes", "effective_on", "body_en"}
    with pytest.raises(InvalidInput) as past:
        actions.publish_notice(governance, notice(effective_on=timezone.localdate() - dt.timedelta(days=1)))
    assert [p.field for p in past.value.details] == ["effective_on"]
    assert NoticeVersion.objects.count() == 1


# --- acceptance ----------------------------------------------------------------------------------------------


def test_without_any_notice_a_citizen_is_not_redirected(citizen_user: User) -> None:
    response = logged_in(citizen_user).get(reverse("portal:dashboard"))
    assert response.status_code == 200


def test_a_citizen_accepts_at_first_login_and_lands_where_they_were_going(
        publish: Callable[..., NoticeVersion], citizen_user: User) -> None:
    version = publish()
    client = logged_in(citizen_user)
    dashboard = reverse("portal:dashboard")
    response = client.get(dashboard)
    assert response.status_code == 302 and response["Location"] == accept_url(dashboard)

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "一、收集什么" in page.content.decode() and "What changed" not in page.content.decode()

    accepted = client.post(reverse("privacy:accept"), {"notice": version.pk, "next": dashboard})
    assert accepted.status_code == 302 and accepted["Location"] == dashboard
    acceptance = NoticeAcceptance.objects.get(user=citizen_user)
    assert acceptance.notice == version and acceptance.client_address == "127.0.0.1"
    assert AuditEntry.objects.filter(action="privacy.accept_notice", actor_id=str(citizen_user.pk)).count() == 1
    assert client.get(dashboard).status_code == 200
    # Accepting again records nothing more.
    actions.accept_notice(citizen_user, version)
    assert NoticeAcceptance.objects.count() == 1


def test_a_new_version_asks_again_from_its_effective_date_showing_what_changed(
        publish: Callable[..., NoticeVersion], citizen_user: User) -> None:
    first = publish()
    actions.accept_notice(citizen_user, first)
    client = logged_in(citizen_user)
    dashboard = reverse("portal:dashboard")
    assert client.get(dashboard).status_code == 200

    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    second = publish(changes="第二版：新增撤回同意的说明。", effective_on=tomorrow)
    assert client.get(dashboard).status_code == 200  # not in effect yet

    with time_machine.travel(timezone.now() + dt.timedelta(days=1)):
        client = logged_in(citizen_user)  # the next day's session
        response = client.get(dashboard)
        assert response.status_code == 302 and response["Location"] == accept_url(dashboard)
        page = client.get(response["Location"]).content.decode()
        assert "第二版：新增撤回同意的说明。" in page and "You accepted version 1" in page
        # A stale form (the version shown is no longer the one in effect) accepts nothing.
        stale = client.post(reverse("privacy:accept"), {"notice": first.pk, "next": dashboard})
        assert stale.status_code == 409 and not NoticeAcceptance.objects.filter(notice=second).exists()
        client.post(reverse("privacy:accept"), {"notice": second.pk, "next": dashboard})
        assert client.get(dashboard).status_code == 200
    assert queries.last_accepted(citizen_user) == second


def test_an_earlier_version_cannot_be_accepted(publish: Callable[..., NoticeVersion], citizen_user: User) -> None:
    first = publish()
    publish(changes="第二版。")
    with pytest.raises(Conflict):
        actions.accept_notice(citizen_user, first)


def test_machine_paths_notice_pages_and_logout_are_not_redirected(publish: Callable[..., NoticeVersion],
                                                                  citizen_user: User) -> None:
    publish()
    publish(NoticeKind.DISCLOSURE, title="公共数据开放政策")
    client = logged_in(citizen_user)
    api = client.get("/api/v1/privacy/notices/privacy/acceptance")
    assert api.status_code == 200 and api.json() == {"must_accept": True, "current_version": 1,
                                                      "accepted_version": None}
    assert client.get("/api/v1/no-such-endpoint").status_code == 404
    assert client.get("/govstack/consent/docs").status_code != 302
    for name in ("privacy:notice", "privacy:disclosure-policy", "portal:accessibility"):
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("privacy:notice-version", args=[1])).status_code == 200
    assert f'href="{reverse("privacy:accept")}"' in client.get(reverse("privacy:notice")).content.decode()
    htmx = client.get(reverse("portal:dashboard"), headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith(reverse("privacy:accept"))
    assert client.post(reverse("identity:logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_staff_and_superusers_are_not_redirected(publish: Callable[..., NoticeVersion],
                                                provider_officer: User) -> None:
    publish()
    assert logged_in(provider_officer).get(reverse("portal:dashboard")).status_code == 200
    admin = User.objects.create_superuser("root", password="Root#pass2026")  # kind left at its default
    assert logged_in(admin).get(reverse("portal:dashboard")).status_code == 200


# --- pages ---------------------------------------------------------------------------------------------------


def test_public_pages_show_the_notice_safely_with_its_versions(publish: Callable[..., NoticeVersion]) -> None:
    publish(body="# 总则\n<script>alert(1)</script>\n\n- 第一项")
    publish(changes="第二版的变化。", body="第二版正文。", title_en="Privacy notice", body_en="Second version.",
            changes_en="What the second version changed.")
    client = english()
    page = client.get(reverse("privacy:notice")).content.decode()
    # In English, the English version where there is one; the Chinese text elsewhere, marked as Chinese.
    assert "Second version." in page and "第二版正文。" not in page and "What the second version changed." in page
    assert '<td lang="zh-hans">首次发布。</td>' in page
    first = client.get(reverse("privacy:notice-version", args=[1])).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in first and "<script>alert(1)" not in first
    assert "an earlier version" in first
    assert client.get(reverse("privacy:notice-version", args=[9])).status_code == 404
    empty = client.get(reverse("privacy:disclosure-policy"))
    assert empty.status_code == 200 and "No version has been published yet." in empty.content.decode()


def test_the_office_publishes_a_revision_on_its_page(publish: Callable[..., NoticeVersion], governance: User,
                                                     citizen_user: User) -> None:
    publish()
    client = logged_in(governance)
    url = reverse("privacy:publish-notice", args=["privacy"])
    form = client.get(url)
    assert form.status_code == 200 and "一、收集什么" in form.content.decode()  # starts from the latest text

    wrong = client.post(url, {"title": "隐私政策", "body": BODY, "changes": "补充说明。",
                              "effective_on": (timezone.localdate() - dt.timedelta(days=2)).isoformat()})
    assert wrong.status_code == 422
    html = wrong.content.decode()
    assert 'href="#id_effective_on"' in html and "A version cannot take effect in the past." in html
    assert NoticeVersion.objects.count() == 1

    done = client.post(url, {"title": "隐私政策", "body": BODY + "\n\n新增一段。", "changes": "新增一段。",
                             "effective_on": timezone.localdate().isoformat()})
    assert done.status_code == 302 and done["Location"] == reverse("privacy:notice-version", args=[2])
    assert client.get(reverse("privacy:notices")).status_code == 200
    actions.accept_notice(citizen_user, queries.current(NoticeKind.PRIVACY))  # type: ignore[arg-type]
    assert logged_in(citizen_user).get(url).status_code == 403


def test_text_blocks_read_headings_lists_and_paragraphs() -> None:
    blocks = text_blocks("前言第一行\n前言第二行\n\n# 标题\n## 小标题\n- 甲\n- 乙\n结尾")
    assert [(b.kind, b.text, b.lines) for b in blocks] == [
        ("paragraph", "", ["前言第一行", "前言第二行"]), ("heading", "标题", []), ("subheading", "小标题", []),
        ("list", "", ["甲", "乙"]), ("paragraph", "", ["结尾"])]


# --- API and demo ----------------------------------------------------------------------------------------------


def test_the_api_reads_accepts_and_publishes(publish: Callable[..., NoticeVersion], citizen_user: User,
                                             governance: User) -> None:
    publish()
    public = english().get("/api/v1/privacy/notices/privacy").json()
    assert public["current"]["version"] == 1 and len(public["versions"]) == 1
    assert english().get("/api/v1/privacy/notices/nonsense").status_code == 404

    citizen = logged_in(citizen_user)
    wrong = citizen.post("/api/v1/privacy/notices/privacy/acceptance", {"version": 7},
                         content_type="application/json")
    assert wrong.status_code == 404
    ok = citizen.post("/api/v1/privacy/notices/privacy/acceptance", {"version": 1}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["must_accept"] is False

    bad = logged_in(governance).post("/api/v1/privacy/notices/privacy/versions", {
        "title": "", "body": "x", "changes": "y", "effective_on": timezone.localdate().isoformat()},
        content_type="application/json")
    assert bad.status_code == 422 and bad.json()["details"] == [{"field": "title", "reason": "This cannot be empty."}]
    denied = citizen.post("/api/v1/privacy/notices/privacy/versions", {
        "title": "t", "body": "x", "changes": "y", "effective_on": timezone.localdate().isoformat()},
        content_type="application/json")
    assert denied.status_code == 403


def test_the_demo_seed_publishes_both_texts_once(governance: User) -> None:
    first = demo_notices.seed_notices(seed=1)
    again = demo_notices.seed_notices(seed=1)
    assert (first.published, again.published) == (2, 0)
    assert "2 notice versions" in first.describe()
    privacy = queries.current(NoticeKind.PRIVACY)
    assert privacy is not None and privacy.published_by == governance and privacy.body_en
    assert len(text_blocks(privacy.body)) > 10
