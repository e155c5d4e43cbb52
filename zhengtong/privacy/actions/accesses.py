"""Hiding an access from the data subject until a date (hidden-until).

Only a holder of privacy.add_hiddenaccess (the auditor and inspector role) may hide, with a reason, a case
reference and a disclosure date after today and at most MAX_HIDDEN_DAYS ahead; a longer investigation hides the
access again before the date comes, with a new reason. An investigator cannot hide an access they made
themselves. The hiding is audited in its own transaction with the row, so auditors see it at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import ActorKind, AuditEntry, Result
from zhengtong.core.errors import FieldProblem, InvalidInput, raise_if_problems
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.privacy.models import HiddenAccess
from zhengtong.privacy.queries.accesses import ACCESS_ACTIONS, HIDE

MAX_HIDDEN_DAYS = 366
MAX_CASE_REFERENCE = 100


def _checked(entry_id: int, until: dt.date | None, reason: str, case_reference: str, actor: Any
             ) -> AuditEntry:
    problems = []
    entry = AuditEntry.objects.filter(pk=entry_id).first()
    if entry is None or entry.action not in ACCESS_ACTIONS or entry.result != Result.OK or not entry.subjects:
        problems.append(FieldProblem("entry_id", _("No access to a person's data has this audit entry number.")))
    elif entry.actor_kind == ActorKind.CITIZEN:
        problems.append(FieldProblem("entry_id", _("A citizen's reading of their own data is not hidden.")))
    elif entry.actor_kind == ActorKind.STAFF and entry.actor_id == str(actor.pk):
        problems.append(FieldProblem("entry_id", _("You cannot hide an access you made yourself.")))
    today = timezone.localdate()
    if until is None:
        problems.append(FieldProblem("hidden_until", _("Give the date on which the person may see the access.")))
    elif until <= today:
        problems.append(FieldProblem("hidden_until", _("The date must be after today.")))
    elif until > today + dt.timedelta(days=MAX_HIDDEN_DAYS):
        problems.append(FieldProblem("hidden_until", _("Hide for at most %(days)d days; hide it again later, with "
                                                       "a reason, if the investigation needs longer.")
                                     % {"days": MAX_HIDDEN_DAYS}))
    if not reason.strip():
        problems.append(FieldProblem("reason", _("Say why the person may not see this access yet.")))
    if not case_reference.strip():
        problems.append(FieldProblem("case_reference", _("Give the case this hiding belongs to.")))
    elif len(case_reference.strip()) > MAX_CASE_REFERENCE:
        problems.append(FieldProblem("case_reference", _("Keep the case reference to %(n)d characters.")
                                     % {"n": MAX_CASE_REFERENCE}))
    raise_if_problems(problems)
    assert entry is not None
    return entry


def hide_access(actor: Any, *, entry_id: int, hidden_until: dt.date | None, reason: str, case_reference: str
                ) -> HiddenAccess:
    """Hide the access recorded by audit entry `entry_id` from its data subjects until `hidden_until`."""
    require_permission(actor, HIDE)
    if actor is None:
        raise InvalidInput.for_field("actor", _("A hiding is made by a person who answers for it."))
    entry = _checked(entry_id, hidden_until, reason, case_reference, actor)
    assert hidden_until is not None
    who = actor_of(actor)
    with transaction.atomic():
        recorded = audit.record(
            "privacy.hide_access", who, object_type="audit_entry", object_id=entry.pk,
            case_reference=case_reference.strip(),
            detail={"hidden_until": hidden_until.isoformat(), "reason": reason.strip(),
                    "access_action": entry.action, "access_department": entry.actor_department},
        )
        return HiddenAccess.objects.create(
            entry=entry, hidden_until=hidden_until, reason=reason.strip(), case_reference=case_reference.strip(),
            hidden_by=actor, hidden_by_name=who.name, hidden_by_department=who.department,
            hidden_by_roles=who.roles, audit_entry_id=recorded.pk)
