"""The inbox pages: a person sees only their own notifications, unread first; opening one (a POST) marks it read,
with an audit entry; "mark all read" clears the count; someone else's notification is a 404; the portal's
unread count comes from the context processor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from zhengtong.audit.models import AuditEntry
from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.services.models import Notification
from zhengtong.services.notify import notify
from zhengtong.services.views.inbox import unread_notifications

pytestmark = pytest.mark.django_db


def logged_in(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


@pytest.fixture
def approver(make_staff: Callable[..., User]) -> User:
    return make_staff(role_names=(roles.APPROVER,), trained=True)


@pytest.fixture
def notes(citizen_user: User, approver: User) -> dict[str, Notification]:
    """The citizen's three notifications (the oldest already read) and the approver's one."""
    made = {}
    for days, name in ((3, "old"), (2, "middle"), (1, "new")):
        [made[name]] = notify([citizen_user], f"subject {name}", f"body of {name}", link="/services/")
        Notification.objects.filter(pk=made[name].pk).update(created_at=timezone.now() - dt.timedelta(days=days))
    Notification.objects.filter(pk=made["old"].pk).update(read_at=timezone.now())
    [made["staff"]] = notify([approver], "a task for you", "claim it")
    return made


def rows(client: Client) -> list[int]:
    page = client.get(reverse("services:inbox"))
    assert page.status_code == 200
    return [note.pk for note in page.context["page"]]


def test_the_inbox_lists_only_ones_own_unread_first_then_newest(citizen_user: User,
                                                                 notes: dict[str, Notification]) -> None:
    client = logged_in(citizen_user)
    assert rows(client) == [notes["new"].pk, notes["middle"].pk, notes["old"].pk]
    page = client.get(reverse("services:inbox"))
    assert page.context["unread"] == 2
    assert b'data-unread="2"' in page.content and b"You have 2 unread notifications." in page.content
    assert b"a task for you" not in page.content


def test_someone_elses_notification_is_not_found(citizen_user: User, approver: User,
                                                 notes: dict[str, Notification]) -> None:
    client = logged_in(approver)
    url = reverse("services:notification", args=[notes["new"].pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "mark_read"}).status_code == 404
    assert Notification.objects.get(pk=notes["new"].pk).read_at is None
    assert client.get(reverse("services:notification", args=[notes["staff"].pk])).status_code == 200


def test_opening_an_unread_notification_marks_it_read(citizen_user: User, notes: dict[str, Notification]) -> None:
    client = logged_in(citizen_user)
    url = reverse("services:notification", args=[notes["middle"].pk])
    shown = client.get(url)  # looking is not opening: only the POST marks it read
    assert shown.status_code == 200 and b"body of middle" in shown.content and b'data-read="no"' in shown.content
    assert Notification.objects.get(pk=notes["middle"].pk).read_at is None
    opened = client.post(url, {"action": "mark_read"})
    assert opened.status_code == 302 and opened["Location"] == url
    note = Notification.objects.get(pk=notes["middle"].pk)
    assert note.read_at is not None
    entry = AuditEntry.objects.get(action="services.mark_notification_read")
    assert entry.object_id == str(note.pk) and entry.actor_id == str(citizen_user.pk)
    client.post(url, {"action": "mark_read"})  # again: the first reading's time stays, nothing more recorded
    assert Notification.objects.get(pk=note.pk).read_at == note.read_at
    assert AuditEntry.objects.filter(action="services.mark_notification_read").count() == 1
    assert b'data-read="yes"' in client.get(url).content
    assert rows(client) == [notes["new"].pk, notes["middle"].pk, notes["old"].pk]
    assert client.post(url, {"action": "delete"}).status_code == 404


def test_mark_all_read_clears_only_ones_own(citizen_user: User, approver: User,
                                            notes: dict[str, Notification]) -> None:
    client = logged_in(citizen_user)
    response = client.post(reverse("services:inbox-read-all"), follow=True)
    assert b"2 notifications marked as read." in response.content
    assert not Notification.objects.filter(recipient=citizen_user, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=notes["staff"].pk).read_at is None
    assert AuditEntry.objects.get(action="services.mark_all_notifications_read").detail == {"count": 2}
    assert client.get(reverse("services:inbox-read-all")).status_code == 405


def test_the_inbox_needs_a_login(notes: dict[str, Notification]) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    for url in (reverse("services:inbox"), reverse("services:notification", args=[notes["new"].pk])):
        response = client.get(url)
        assert response.status_code == 302 and reverse("identity:login") in response["Location"]


def test_the_unread_count_for_the_navigation(citizen_user: User, approver: User,
                                             notes: dict[str, Notification]) -> None:
    request = RequestFactory().get("/")
    request.user = citizen_user
    assert unread_notifications(request)["unread_notifications"] == 2
    request.user = approver
    assert unread_notifications(request)["unread_notifications"] == 1
    request.user = AnonymousUser()
    assert unread_notifications(request)["unread_notifications"] == 0
