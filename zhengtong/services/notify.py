"""Tell applicants and staff: every notification lands in the person's inbox on the platform (in the caller's
transaction, so it exists exactly when the step that caused it does); email and SMS copies go out after the
commit through Django's mail backend and the configured SMS provider (see services.sms), and what each did is
kept on the notification. A mail server or provider that is away costs only the copy: the step stands."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Case, QuerySet, Value, When
from django.utils import timezone

from zhengtong.identity.models import User
from zhengtong.services import sms
from zhengtong.services.models import Notification

log = structlog.get_logger("zhengtong.services.notify")

SENT, FAILED, NO_ADDRESS = "sent", "failed", "no address"


def notify(recipients: Iterable[User], subject: str, body: str, *, link: str = "") -> list[Notification]:
    """One inbox notification per recipient (duplicates and inactive accounts skipped), with email and SMS
    copies after the commit. `link` is a path on the platform ("/services/...")."""
    if link and (not link.startswith("/") or link[1:2] in ("/", "\\")):  # a second / or \ leaves the site
        raise ValueError(f"a notification links to a path on the platform, not {link!r}")
    now = timezone.now()
    seen: set[int] = set()
    notes = []
    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        notes.append(Notification(recipient=user, subject=subject[:200], body=body, link=link, created_at=now))
    created = Notification.objects.bulk_create(notes)
    if created:
        # robust: whatever a backend raises after the commit is logged, never turned into an error page.
        transaction.on_commit(partial(send_copies, [note.pk for note in created]), robust=True)
    return created


def inbox_of(user: User) -> QuerySet[Notification]:
    """The user's notifications: unread first, newest first within each."""
    unread_first = Case(When(read_at__isnull=True, then=Value(0)), default=Value(1))
    return Notification.objects.filter(recipient=user).order_by(unread_first, "-created_at", "-pk")


def unread_count(user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- the copies -------------------------------------------------------------------------------------------------


def phone_of(user: User) -> str:
    """The mobile number SMS copies go to: a citizen's own, a business's legal representative's. Staff accounts
    have none (their profile keeps no phone)."""
    citizen = getattr(user, "citizen", None)
    if citizen is not None:
        return str(citizen.phone or "")
    business = getattr(user, "business", None)
    if business is not None:
        return str(business.legal_representative.phone or "")
    return ""


def url_of(link: str) -> str:
    """The link as the copies carry it: absolute when the site's address is configured (SITE_URL)."""
    base = str(getattr(settings, "SITE_URL", "") or "").rstrip("/")
    return f"{base}{link}" if link else ""


def send_copies(notification_ids: list[int]) -> None:
    """Email and SMS copies of committed notifications, each outcome kept in email_status / sms_status."""
    notes = Notification.objects.filter(pk__in=notification_ids).select_related(
        "recipient__citizen", "recipient__business__legal_representative")
    provider = sms.backend()
    for note in notes:
        note.email_status = _email(note)
        note.sms_status = _sms(note, provider)
        Notification.objects.filter(pk=note.pk).update(email_status=note.email_status, sms_status=note.sms_status)


def _email(note: Notification) -> str:
    address = note.recipient.email
    if not address:
        return NO_ADDRESS
    url = url_of(note.link)
    try:
        send_mail(note.subject, f"{note.body}\n\n{url}" if url else note.body, None, [address])
    except OSError as error:  # smtplib's errors are OSErrors
        log.warning("notification mail not sent", notification=note.pk, error=str(error))
        return FAILED
    return SENT


def _sms(note: Notification, provider: sms.SmsBackend) -> str:
    phone = phone_of(note.recipient)
    if not phone:
        return NO_ADDRESS
    try:
        provider.send(phone, sms.shorten(note.subject, url_of(note.link)))
    except Exception as error:  # noqa: BLE001 (a provider's own client may raise anything; SmsFailed is the rule)
        log.warning("notification SMS not sent", notification=note.pk, error=str(error) or type(error).__name__)
        return FAILED
    return SENT
