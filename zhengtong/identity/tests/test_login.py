"""Logging in as 等保 level 3 expects: Argon2, lock-out, a second factor for staff, idle timeout, a record of it all."""

import datetime

import pyotp
import pytest
import time_machine
from django.contrib.auth.hashers import identify_hasher
from django.urls import reverse

from zhengtong.audit.models import AuditEntry
from zhengtong.conftest import PASSWORD
from zhengtong.identity import roles
from zhengtong.identity.models import LoginEventKind, User

LOGIN = "/login/"


def post_login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def login_events(username):
    return AuditEntry.objects.filter(action__in=LoginEventKind.values, detail__username=username).order_by("id")


def kinds(username):
    return list(login_events(username).values_list("action", flat=True))


def test_passwords_are_stored_with_argon2(citizen_user):
    assert identify_hasher(citizen_user.password).algorithm == "argon2"
    assert PASSWORD not in citizen_user.password


def test_citizen_logs_in_with_password_and_the_login_is_recorded(client, citizen_user):
    response = post_login(client, "xiaoming", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    assert client.get(reverse("portal:dashboard")).status_code == 200
    event = login_events("xiaoming").get()
    assert event.action == LoginEventKind.LOGIN
    assert (event.actor_kind, event.actor_id, event.result) == ("citizen", str(citizen_user.pk), "ok")
    assert event.client_address == "127.0.0.1"
    assert len(event.request_id) == 32


def test_wrong_password_is_refused_with_a_message_and_recorded(client, citizen_user):
    response = post_login(client, "xiaoming", "Wrong#pass1")
    assert response.status_code == 401
    assert "_auth_user_id" not in client.session
    assert kinds("xiaoming") == [LoginEventKind.FAILURE]


def test_unknown_user_is_refused_like_a_wrong_password(client, db):
    response = post_login(client, "nobody", "Wrong#pass1")
    assert response.status_code == 401
    assert kinds("nobody") == [LoginEventKind.UNKNOWN_USER]


def test_five_failures_lock_the_account_for_ten_minutes(client, citizen_user):
    with time_machine.travel(datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
        for _ in range(5):
            post_login(client, "xiaoming", "Wrong#pass1")
        citizen_user.refresh_from_db()
        assert citizen_user.locked_until == datetime.datetime(2026, 11, 2, 9, 10, tzinfo=datetime.UTC)
        # Even the right password is refused while locked.
        response = post_login(client, "xiaoming", PASSWORD)
        assert response.status_code == 401
        assert "_auth_user_id" not in client.session
        clock.shift(datetime.timedelta(minutes=9, seconds=59))
        assert post_login(client, "xiaoming", PASSWORD).status_code == 401
        clock.shift(datetime.timedelta(seconds=2))
        assert post_login(client, "xiaoming", PASSWORD).status_code == 302
    assert kinds("xiaoming") == [LoginEventKind.FAILURE] * 5 + [
        LoginEventKind.LOCKED, LoginEventKind.REFUSED_LOCKED, LoginEventKind.REFUSED_LOCKED, LoginEventKind.LOGIN]


def test_four_failures_then_success_resets_the_count(client, citizen_user):
    for _ in range(4):
        post_login(client, "xiaoming", "Wrong#pass1")
    assert post_login(client, "xiaoming", PASSWORD).status_code == 302
    citizen_user.refresh_from_db()
    assert citizen_user.failed_login_count == 0


def test_staff_need_a_totp_code_after_the_password(client, make_staff):
    staff = make_staff(role_names=(roles.WINDOW_STAFF,), username="clerk")
    response = post_login(client, "clerk", PASSWORD)
    assert response["Location"] == reverse("identity:login-code")
    # Not logged in yet: the dashboard still asks for a login.
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal:dashboard")).status_code == 302
    code = pyotp.TOTP(staff.totp_secret).now()
    response = client.post(reverse("identity:login-code"), {"code": code})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)
    assert kinds("clerk") == [LoginEventKind.LOGIN]


def test_a_wrong_or_reused_code_is_refused(client, make_staff):
    staff = make_staff(username="clerk")
    post_login(client, "clerk", PASSWORD)
    assert client.post(reverse("identity:login-code"), {"code": "000000"}).status_code == 401
    code = pyotp.TOTP(staff.totp_secret).now()
    assert client.post(reverse("identity:login-code"), {"code": code}).status_code == 302
    client.post(reverse("identity:logout"))
    post_login(client, "clerk", PASSWORD)
    # The same code a second time is refused: a code can be used once.
    assert client.post(reverse("identity:login-code"), {"code": code}).status_code == 401
    assert kinds("clerk").count(LoginEventKind.SECOND_FACTOR_FAILURE) == 2


def test_wrong_codes_count_towards_the_lock_out(client, make_staff):
    make_staff(username="clerk")
    post_login(client, "clerk", PASSWORD)
    for _ in range(5):
        client.post(reverse("identity:login-code"), {"code": "000000"})
    assert User.objects.get(username="clerk").is_locked()


def test_staff_without_a_factor_enrol_before_they_get_in(client, make_staff):
    make_staff(username="newbie", enrolled=False)
    response = post_login(client, "newbie", PASSWORD)
    assert response["Location"] == reverse("identity:enrol")
    page = client.get(reverse("identity:enrol"))
    staff = User.objects.get(username="newbie")
    assert staff.totp_secret and staff.totp_secret in page.content.decode()
    assert "<svg" in page.content.decode()
    response = client.post(reverse("identity:enrol"), {"code": pyotp.TOTP(staff.totp_secret).now()})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.totp_confirmed_at is not None
    assert kinds("newbie") == [LoginEventKind.SECOND_FACTOR_ENROLLED, LoginEventKind.LOGIN]


def test_the_code_page_without_a_password_step_goes_back_to_login(client, db):
    response = client.get(reverse("identity:login-code"))
    assert response["Location"] == reverse("identity:login")


def test_logout_is_a_post_and_is_recorded(client, citizen_user):
    post_login(client, "xiaoming", PASSWORD)
    assert client.get(reverse("identity:logout")).status_code == 405
    client.post(reverse("identity:logout"))
    assert "_auth_user_id" not in client.session
    assert kinds("xiaoming") == [LoginEventKind.LOGIN, LoginEventKind.LOGOUT]


def test_idle_sessions_are_logged_out(client, citizen_user, settings):
    settings.SESSION_IDLE_SECONDS = 15 * 60
    with time_machine.travel(datetime.datetime(2026, 11, 2, 9, 0, tzinfo=datetime.UTC), tick=False) as clock:
        post_login(client, "xiaoming", PASSWORD)
        clock.shift(datetime.timedelta(minutes=14))
        assert client.get(reverse("portal:dashboard")).status_code == 200
        clock.shift(datetime.timedelta(minutes=14))  # still active: the clock restarts at each request
        assert client.get(reverse("portal:dashboard")).status_code == 200
        clock.shift(datetime.timedelta(minutes=16))
        response = client.get(reverse("portal:dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("identity:login"))
    assert kinds("xiaoming") == [LoginEventKind.LOGIN, LoginEventKind.TIMEOUT]


def test_next_parameter_only_allows_this_site(client, citizen_user):
    response = post_login(client, "xiaoming", PASSWORD, next="https://evil.example/")
    assert response["Location"] == reverse("portal:dashboard")


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/login/?next=/admin/"])
def test_the_admin_login_goes_through_the_platform_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("identity:login"))


def test_auditor_sees_login_history_and_others_do_not(client, make_staff, citizen_user):
    from zhengtong.identity.models import DataScope

    auditor = make_staff(role_names=(roles.AUDITOR,), data_scope=DataScope.ALL)
    clerk = make_staff(role_names=(roles.WINDOW_STAFF,))
    post_login(client, "xiaoming", "Wrong#pass1")
    client.force_login(clerk)
    assert client.get(reverse("identity:login-events")).status_code == 403
    client.force_login(auditor)
    page = client.get(reverse("identity:login-events"), {"username": "xiaoming"})
    assert page.status_code == 200
    assert "xiaoming" in page.content.decode()
