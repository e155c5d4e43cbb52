"""notify(): the inbox row exists exactly when the step that caused it commits; the email and SMS copies go out
after the commit and their outcome is kept; a mail server or SMS provider that fails costs only the copy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from zhengtong.identity import roles
from zhengtong.identity.models import User
from zhengtong.services import sms
from zhengtong.services.models import Notification
from zhengtong.services.notify import notify

pytestmark = pytest.mark.django_db

LINK = "/services/applications/ABCD2345/"
PHONE = "13800138000"  # citizen_user's (zhengtong/conftest.py)


class Refused(Exception):
    pass


class FailingSms(sms.SmsBackend):
    def send(self, phone: str, text: str) -> None:
        raise sms.SmsFailed("the provider answered 503")


class CrashingSms(sms.SmsBackend):
    """A provider's client that breaks the rule and raises something else."""

    def send(self, phone: str, text: str) -> None:
        raise Refused


class FailingMail(BaseEmailBackend):
    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError("the mail server is away")


@pytest.fixture
def citizen(citizen_user: User) -> User:
    citizen_user.email = "xiaoming@example.cn"
    citizen_user.save(update_fields=["email"])
    return citizen_user


@pytest.fixture
def approver(make_staff: Callable[..., User]) -> User:
    return make_staff(role_names=(roles.APPROVER,), trained=True)


def outbox(var_dir: Path) -> list[dict[str, Any]]:
    path = var_dir / "sms" / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_inbox_row_is_made_in_the_step_and_rolled_back_with_it(
        citizen: User, django_capture_on_commit_callbacks: Any) -> None:
    with (django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError),
          transaction.atomic()):
        notify([citizen], "您的申请已受理", "申请已进入审查。", link=LINK)
        assert Notification.objects.filter(recipient=citizen).count() == 1  # visible inside the step
        raise RuntimeError("the step fails after notifying")
    assert not Notification.objects.exists()
    assert callbacks == [] and mail.outbox == []


def test_a_committed_step_sends_the_email_copy_and_records_it(
        citizen: User, approver: User, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    settings.SMS_BACKEND = "console"
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        notes = notify([citizen, approver, citizen], "您的申请已受理", "申请已进入审查。", link=LINK)
        assert mail.outbox == []  # nothing leaves before the commit
    assert len(notes) == 2  # the duplicate is dropped
    for callback in callbacks:
        callback()
    [message] = mail.outbox
    assert message.to == ["xiaoming@example.cn"] and message.subject == "您的申请已受理"
    assert LINK in message.body
    mine = Notification.objects.get(recipient=citizen)
    assert (mine.email_status, mine.sms_status) == ("sent", "sent")
    theirs = Notification.objects.get(recipient=approver)  # staff: no address given, no phone on the profile
    assert (theirs.email_status, theirs.sms_status) == ("no address", "no address")
    assert mine.read_at is None and mine.link == LINK


def test_inactive_accounts_get_nothing(citizen: User) -> None:
    citizen.is_active = False
    citizen.save(update_fields=["is_active"])
    assert notify([citizen], "主题", "正文") == []
    assert not Notification.objects.exists()


def test_a_link_must_be_a_path_on_the_platform(citizen: User) -> None:
    for link in ("https://example.com/", "//example.com/x", "/\\example.com/x", "javascript:alert(1)"):
        with pytest.raises(ValueError, match="path on the platform"):
            notify([citizen], "主题", "正文", link=link)


def test_the_file_backend_writes_the_phone_and_a_short_text_with_the_link(
        citizen: User, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    settings.SMS_BACKEND = "file"
    settings.VAR_DIR = tmp_path
    settings.SITE_URL = "https://zw.yx.gov.cn"
    subject = "您申请的老年人高龄津贴已经审批通过，请登录平台查看决定书并按照指引领取津贴" * 2
    with django_capture_on_commit_callbacks(execute=True):
        notify([citizen], subject, "正文", link=LINK)
    [line] = outbox(tmp_path)
    assert line["phone"] == PHONE
    assert line["text"].endswith("… https://zw.yx.gov.cn" + LINK)  # the subject is cut, never the link
    assert line["text"].startswith("您申请的老年人高龄津贴")
    assert len(line["text"]) <= sms.MAX_CHARS
    assert Notification.objects.get().sms_status == "sent"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", [FailingSms, CrashingSms])
def test_a_failing_sms_provider_is_recorded_and_the_step_still_commits(
        citizen: User, settings: Any, backend: type[sms.SmsBackend]) -> None:
    settings.SMS_BACKEND = f"{__name__}.{backend.__name__}"
    with transaction.atomic():
        User.objects.filter(pk=citizen.pk).update(first_name="王小明（已受理）")  # the step's own change
        notify([citizen], "您的申请已受理", "申请已进入审查。", link=LINK)
    # on_commit ran for real: the step and its inbox row are committed, the copies' outcomes recorded.
    note = Notification.objects.get(recipient=citizen)
    assert (note.email_status, note.sms_status) == ("sent", "failed")
    assert User.objects.get(pk=citizen.pk).first_name == "王小明（已受理）"
    assert len(mail.outbox) == 1


def test_a_failing_mail_server_is_recorded(
        citizen: User, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    settings.EMAIL_BACKEND = f"{__name__}.FailingMail"
    settings.SMS_BACKEND = "file"
    settings.VAR_DIR = tmp_path
    with django_capture_on_commit_callbacks(execute=True):
        notify([citizen], "您的申请已受理", "申请已进入审查。")
    note = Notification.objects.get()
    assert (note.email_status, note.sms_status) == ("failed", "sent")
    assert outbox(tmp_path)[0]["text"] == "您的申请已受理"


def test_the_console_backend_logs_the_phone_masked() -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        sms.backend("console").send(PHONE, "您的申请已受理")
    [entry] = logs
    assert entry["text"] == "您的申请已受理" and PHONE not in entry["phone"] and entry["phone"].startswith("138")
