"""Every change of sharing state, as a named verb: requests and their path, grants and their changes, consent.

Each action checks permission, changes state in one transaction and writes its audit entry in it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog.actions import next_number
from zhengtong.catalog.models import Resource, ResourceStatus, SharingType
from zhengtong.core import calendar, masking
from zhengtong.core.errors import Conflict, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.exchange.models import (
    Basis,
    ConsentRecord,
    Grant,
    GrantStatus,
    MaskingLevel,
    RefusedBy,
    RequestStatus,
    SharingRequest,
)
from zhengtong.exchange.queries import staff_to_act
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import Department, User
from zhengtong.registries.codec import load_schema

CHECK_DAYS = 2  # the governance office's conformity check
ANSWER_DAYS = 5  # the provider's answer to a conditional request
ANSWER_DAYS_UNPUBLISHED = 10  # ... when the resource is not yet published
SETTLE_DAYS = 5  # the governance office's settlement of a disputed refusal
ROW_TESTS = ("eq", "in", "prefix")


def _yearly_number(prefix: str) -> str:
    """PREFIX-<year>-<six-digit sequence of that year>, from the catalog's numbering of series."""
    year = timezone.localdate().year
    return f"{prefix}-{year}-{next_number(f'{prefix}:{year}'):06d}"


def _due(days: int) -> dt.date:
    return calendar.add_working_days(timezone.localdate(), days).date


def _name(actor: User | None) -> str:
    if actor is None:
        return _("the platform")
    return actor.display_name or actor.get_username()


def _department_of(actor: User | None) -> Department:
    profile = getattr(actor, "staff", None)
    if profile is None:
        raise NotPermitted(_("Only staff of a department can do this."))
    return profile.department


# --- terms: fields, row filter, masking, period, limits ----------------------------------------------------


@dataclass
class Terms:
    """What a request asks for or a grant allows. Shared by requests, grants and their changes."""

    fields: list[str] = field(default_factory=list)
    row_filter: dict[str, Any] = field(default_factory=dict)
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    masking_level: str = MaskingLevel.MASKED
    field_rules: dict[str, str] = field(default_factory=dict)
    daily_quota: int | None = None
    rate_per_minute: int | None = None
    may_write: bool = False
    may_reveal: bool = False


def _resource_fields(resource: Resource) -> dict[str, Any]:
    """Field name → the registry's FieldSpec (or the data item, for an API resource)."""
    if resource.registry is not None:
        return dict(load_schema(resource.registry).by_name)
    return {item.name: item for item in resource.items.all()}


def check_terms(resource: Resource, terms: Terms, problems: list[FieldProblem]) -> None:
    """Every problem with `terms` for `resource`, named by field."""
    known = _resource_fields(resource)
    if not terms.fields:
        problems.append(FieldProblem("fields", _("Name at least one field.")))
    unknown = [name for name in terms.fields if name not in known]
    if unknown:
        problems.append(FieldProblem("fields", _("The resource has no field %(names)s.") % {
            "names": ", ".join(unknown)}))
    if not isinstance(terms.row_filter, Mapping):
        problems.append(FieldProblem("row_filter", _("The row scope maps fields to conditions.")))
    else:
        for name, test in terms.row_filter.items():
            spec = known.get(name)
            if spec is None:
                problems.append(FieldProblem("row_filter", _("The resource has no field %(name)s.") % {"name": name}))
            elif resource.registry_id is None or getattr(spec, "encrypted", False):
                problems.append(FieldProblem("row_filter", _(
                    "%(name)s cannot scope rows: rows are chosen by plain fields of a registry.") % {"name": name}))
            elif not isinstance(test, Mapping) or not test or any(k not in ROW_TESTS for k in test):
                problems.append(FieldProblem("row_filter", _(
                    "The condition on %(name)s must use eq, in or prefix.") % {"name": name}))
            elif "in" in test and not isinstance(test["in"], list):
                problems.append(FieldProblem("row_filter", _("\"in\" takes a list of values.")))
    if terms.masking_level not in MaskingLevel.values:
        problems.append(FieldProblem("masking_level", _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(MaskingLevel.values)}))
    for name, rule in terms.field_rules.items():
        if name not in terms.fields:
            problems.append(FieldProblem("field_rules", _("%(name)s is not one of the fields.") % {"name": name}))
        elif (reason := masking.check_rule(rule)) is not None:
            problems.append(FieldProblem("field_rules", f"{name}: {reason}"))
    if terms.valid_from is None:
        problems.append(FieldProblem("valid_from", _("Give the first day.")))
    if terms.valid_until is None:
        problems.append(FieldProblem("valid_until", _("Give the last day.")))
    elif terms.valid_from is not None and terms.valid_until < terms.valid_from:
        problems.append(FieldProblem("valid_until", _("The last day is before the first.")))
    for name in ("daily_quota", "rate_per_minute"):
        value = getattr(terms, name)
        if value is not None and value < 1:
            problems.append(FieldProblem(name, _("Give a number of calls of 1 or more, or leave it empty.")))


def _text(problems: list[FieldProblem], name: str, value: str, message: str) -> str:
    if not value or not value.strip():
        problems.append(FieldProblem(name, message))
        return ""
    return value.strip()


# --- requests ----------------------------------------------------------------------------------------------


@dataclass
class RequestInput:
    resource: Resource
    purpose: str
    scenario: str
    basis: str
    legal_basis: str
    expected_daily_calls: int | None
    terms: Terms


def submit_request(actor: User, data: RequestInput) -> SharingRequest:
    """A consumer department asks for a resource. The path starts at once: a resource that is not shared is
    refused with its legal basis; otherwise the governance office's conformity check is due in 2 working days."""
    require_permission(actor, "exchange.add_sharingrequest")
    consumer = _department_of(actor)
    resource = data.resource
    problems: list[FieldProblem] = []
    purpose = _text(problems, "purpose", data.purpose, _("State what the data is for."))
    scenario = _text(problems, "scenario", data.scenario, _("Describe where the data will be used."))
    if data.basis not in Basis.values:
        problems.append(FieldProblem("basis", _("Choose the legal basis or the data subjects' consent.")))
    legal_basis = (data.legal_basis or "").strip()
    if data.basis == Basis.LEGAL and not legal_basis:
        problems.append(FieldProblem("legal_basis", _("Name the law or regulation that allows this use.")))
    if data.expected_daily_calls is None or data.expected_daily_calls < 1:
        problems.append(FieldProblem("expected_daily_calls", _("Estimate the calls per day (1 or more).")))
    check_terms(resource, data.terms, problems)
    raise_if_problems(problems)
    if resource.provider_id == consumer.pk:
        raise Conflict(_("Your department provides this resource; it needs no sharing request."))
    if resource.status != ResourceStatus.PUBLISHED and resource.sharing_type != SharingType.CONDITIONAL:
        raise Conflict(_("This resource is not published in the catalog yet."))
    terms = data.terms
    assert terms.valid_from and terms.valid_until and data.expected_daily_calls  # checked above
    with transaction.atomic():
        now = timezone.now()
        request = SharingRequest(
            number=_yearly_number("GXSQ"), consumer=consumer, resource=resource, requested_by=actor,
            requested_by_name=_name(actor), purpose=purpose, scenario=scenario, basis=data.basis,
            legal_basis=legal_basis, fields=list(dict.fromkeys(terms.fields)), row_filter=dict(terms.row_filter),
            expected_daily_calls=data.expected_daily_calls, valid_from=terms.valid_from,
            valid_until=terms.valid_until, submitted_at=now,
        )
        if resource.sharing_type == SharingType.NONE or not resource.sharing_type:
            request.status = RequestStatus.REFUSED
            request.refused_by = RefusedBy.CATALOG
            request.refusal_reasons = resource.legal_basis or _("The catalog lists this resource as not shared.")
        else:
            request.check_due = _due(CHECK_DAYS)
        request.save()
        _audit_request("exchange.submit_request", actor, request, {"fields": request.fields})
    return request


def _audit_request(action: str, actor: User | None, request: SharingRequest, detail: Mapping[str, Any]) -> None:
    audit.record(action, actor_of(actor), object_type="sharing_request", object_id=request.number,
                 purpose=request.purpose, legal_basis=request.legal_basis,
                 detail={"resource": request.resource.code or str(request.resource_id),
                         "consumer": request.consumer.code, "status": request.status, **detail})


def _locked(request: SharingRequest, *expected: str) -> SharingRequest:
    locked = SharingRequest.objects.select_for_update().select_related("resource", "consumer").get(pk=request.pk)
    if locked.status not in expected:
        raise Conflict(_("The request is %(status)s; this step no longer applies.") % {
            "status": locked.get_status_display()})
    return locked


def check_request(actor: User | None, request: SharingRequest, *, conforms: bool, note: str = "") -> SharingRequest:
    """The governance office's conformity check. Conforming: an unconditional resource is granted at once; a
    conditional one goes to its provider, who answers within 5 working days (10 if it is not yet published).
    Not conforming: refused, and the note gives the reasons."""
    require_permission(actor, "exchange.check_sharingrequest")
    problems: list[FieldProblem] = []
    note = note.strip()
    if not conforms:
        _text(problems, "note", note, _("Give the reasons for refusing."))
    raise_if_problems(problems)
    with transaction.atomic():
        request = _locked(request, RequestStatus.CHECKING)
        request.checked_at, request.checked_by_name, request.check_note = timezone.now(), _name(actor), note
        if not conforms:
            request.status, request.refused_by, request.refusal_reasons = (
                RequestStatus.REFUSED, RefusedBy.GOVERNANCE, note)
        elif request.resource.sharing_type == SharingType.UNCONDITIONAL:
            _grant_request(actor, request, _terms_of(request))
        else:
            published = request.resource.status == ResourceStatus.PUBLISHED
            request.status = RequestStatus.PROVIDER_REVIEW
            request.answer_due = _due(ANSWER_DAYS if published else ANSWER_DAYS_UNPUBLISHED)
        request.save()
        _audit_request("exchange.check_request", actor, request, {"conforms": conforms, "note": note})
    return request


def _terms_of(request: SharingRequest) -> Terms:
    return Terms(fields=list(request.fields), row_filter=dict(request.row_filter), valid_from=request.valid_from,
                 valid_until=request.valid_until)


def answer_request(actor: User | None, request: SharingRequest, *, grant: bool, reasons: str = "",
                   terms: Terms | None = None) -> SharingRequest:
    """The provider's answer to a conditional request: grant (on the requested terms, or narrower ones it
    sets: fewer fields, a row scope, masking, quota) or refuse with reasons."""
    require_permission(actor, "exchange.answer_sharingrequest", request.resource)
    problems: list[FieldProblem] = []
    reasons = reasons.strip()
    if not grant:
        _text(problems, "reasons", reasons, _("Give the reasons for refusing."))
    chosen = terms or _terms_of(request)
    if grant:
        check_terms(request.resource, chosen, problems)
        wider = [name for name in chosen.fields if name not in request.fields]
        if wider:
            problems.append(FieldProblem("fields", _("A grant cannot add fields that were not requested: "
                                                     "%(names)s.") % {"names": ", ".join(wider)}))
    raise_if_problems(problems)
    with transaction.atomic():
        request = _locked(request, RequestStatus.PROVIDER_REVIEW)
        request.answered_at, request.answered_by_name = timezone.now(), _name(actor)
        if grant:
            _grant_request(actor, request, chosen)
        else:
            request.status, request.refused_by, request.refusal_reasons = (
                RequestStatus.REFUSED, RefusedBy.PROVIDER, reasons)
        request.save()
        _audit_request("exchange.answer_request", actor, request, {"granted": grant, "reasons": reasons})
    return request


def dispute_refusal(actor: User, request: SharingRequest, *, grounds: str) -> SharingRequest:
    """The consumer disputes a refusal by the provider or the office; the governance office settles it
    within 5 working days."""
    require_permission(actor, "exchange.add_sharingrequest", request)
    problems: list[FieldProblem] = []
    grounds = _text(problems, "grounds", grounds, _("Say why the refusal is wrong."))
    raise_if_problems(problems)
    with transaction.atomic():
        request = _locked(request, RequestStatus.REFUSED)
        if request.refused_by == RefusedBy.CATALOG:
            raise Conflict(_("The catalog does not share this resource; change the catalog entry instead."))
        if request.disputed_at is not None:
            raise Conflict(_("This refusal has been disputed and settled already."))
        request.status, request.dispute_reason, request.disputed_at = RequestStatus.DISPUTED, grounds, timezone.now()
        request.settle_due = _due(SETTLE_DAYS)
        request.save()
        _audit_request("exchange.dispute_refusal", actor, request, {"grounds": grounds})
    return request


def settle_dispute(actor: User | None, request: SharingRequest, *, grant: bool, settlement: str) -> SharingRequest:
    """The governance office settles a disputed refusal: it stands, or the request is granted as asked."""
    require_permission(actor, "exchange.check_sharingrequest")
    problems: list[FieldProblem] = []
    settlement = _text(problems, "settlement", settlement, _("Record the settlement and its reasons."))
    raise_if_problems(problems)
    with transaction.atomic():
        request = _locked(request, RequestStatus.DISPUTED)
        request.settled_at, request.settled_by_name, request.settlement = timezone.now(), _name(actor), settlement
        if grant:
            _grant_request(actor, request, _terms_of(request))
        else:
            request.status = RequestStatus.REFUSED
        request.save()
        _audit_request("exchange.settle_dispute", actor, request, {"granted": grant, "settlement": settlement})
    return request


def withdraw_request(actor: User, request: SharingRequest) -> SharingRequest:
    require_permission(actor, "exchange.add_sharingrequest", request)
    with transaction.atomic():
        request = _locked(request, RequestStatus.CHECKING, RequestStatus.PROVIDER_REVIEW, RequestStatus.DISPUTED)
        request.status = RequestStatus.WITHDRAWN
        request.save(update_fields=["status"])
        _audit_request("exchange.withdraw_request", actor, request, {})
    return request


# --- grants ------------------------------------------------------------------------------------------------


def _grant_request(actor: User | None, request: SharingRequest, terms: Terms) -> Grant:
    request.status = RequestStatus.GRANTED
    grant = _create_grant(request.consumer, request.resource, terms, purpose=request.purpose, basis=request.basis,
                          legal_basis=request.legal_basis, request=request)
    _audit_grant("exchange.issue_grant", actor, grant, {"fields": grant.fields, "request": request.number})
    return grant


def _create_grant(consumer: Department, resource: Resource, terms: Terms, *, purpose: str, basis: str,
                  legal_basis: str, request: SharingRequest | None = None) -> Grant:
    assert terms.valid_from and terms.valid_until  # check_terms ran
    return Grant.objects.create(
        number=_yearly_number("GXQX"), request=request, consumer=consumer, resource=resource, purpose=purpose,
        basis=basis, legal_basis=legal_basis, fields=list(dict.fromkeys(terms.fields)),
        row_filter=dict(terms.row_filter), masking_level=terms.masking_level, field_rules=dict(terms.field_rules),
        may_write=terms.may_write, may_reveal=terms.may_reveal, valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        daily_quota=terms.daily_quota, rate_per_minute=terms.rate_per_minute,
    )


def issue_grant(actor: User | None, *, consumer: Department, resource: Resource, terms: Terms, purpose: str,
                basis: str = Basis.LEGAL, legal_basis: str = "") -> Grant:
    """A grant made directly by the governance office (or the platform at the shell), outside the request
    path: for agreements concluded on paper, and for setting up a new platform."""
    require_permission(actor, "exchange.add_grant")
    problems: list[FieldProblem] = []
    purpose = _text(problems, "purpose", purpose, _("State what the data is for."))
    if basis not in Basis.values:
        problems.append(FieldProblem("basis", _("Choose the legal basis or the data subjects' consent.")))
    check_terms(resource, terms, problems)
    raise_if_problems(problems)
    with transaction.atomic():
        grant = _create_grant(consumer, resource, terms, purpose=purpose, basis=basis, legal_basis=legal_basis.strip())
        _audit_grant("exchange.issue_grant", actor, grant, {"fields": grant.fields})
    return grant


def _audit_grant(action: str, actor: User | None, grant: Grant, detail: Mapping[str, Any]) -> None:
    audit.record(action, actor_of(actor), object_type="grant", object_id=grant.number, purpose=grant.purpose,
                 legal_basis=grant.legal_basis,
                 detail={"consumer": grant.consumer.code, "resource": grant.resource.code or str(grant.resource_id),
                         "status": grant.status, **detail})


def _may_manage_grant(actor: User | None, grant: Grant) -> None:
    # The provider's data officer manages grants of its resources; the governance office manages all.
    require_permission(actor, "exchange.change_grant", grant.resource)


GRANT_TERMS = ("fields", "row_filter", "masking_level", "field_rules", "valid_from", "valid_until", "daily_quota",
               "rate_per_minute", "may_write", "may_reveal")


def change_grant(actor: User | None, grant: Grant, terms: Terms, *, reason: str) -> Grant:
    """New terms for a grant. What changed, from what to what, goes to the audit entry."""
    _may_manage_grant(actor, grant)
    problems: list[FieldProblem] = []
    reason = _text(problems, "reason", reason, _("Say why the grant changes."))
    check_terms(grant.resource, terms, problems)
    raise_if_problems(problems)
    with transaction.atomic():
        grant = Grant.objects.select_for_update().select_related("consumer", "resource").get(pk=grant.pk)
        if grant.status == GrantStatus.REVOKED:
            raise Conflict(_("A revoked grant cannot change; the consumer requests the resource again."))
        changes = {}
        for name in GRANT_TERMS:
            old, new = getattr(grant, name), getattr(terms, name)
            if old != new:
                changes[name] = {"from": _plain(old), "to": _plain(new)}
                setattr(grant, name, new)
        if not changes:
            raise InvalidInput.for_field("fields", _("Nothing would change."))
        grant.status_reason = reason
        grant.save()
        _audit_grant("exchange.change_grant", actor, grant, {"changes": changes, "reason": reason})
    return grant


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _set_status(actor: User | None, grant: Grant, status: str, reason: str, allowed_from: tuple[str, ...],
                action: str) -> Grant:
    _may_manage_grant(actor, grant)
    problems: list[FieldProblem] = []
    reason = _text(problems, "reason", reason, _("Give the reason."))
    raise_if_problems(problems)
    with transaction.atomic():
        grant = Grant.objects.select_for_update().select_related("consumer", "resource").get(pk=grant.pk)
        if grant.status not in allowed_from:
            raise Conflict(_("The grant is %(status)s.") % {"status": grant.get_status_display()})
        previous = grant.status
        grant.status, grant.status_reason = status, reason
        grant.save(update_fields=["status", "status_reason", "updated_at"])
        _audit_grant(action, actor, grant, {"from": previous, "reason": reason})
    return grant


def suspend_grant(actor: User | None, grant: Grant, *, reason: str) -> Grant:
    return _set_status(actor, grant, GrantStatus.SUSPENDED, reason, (GrantStatus.ACTIVE,), "exchange.suspend_grant")


def resume_grant(actor: User | None, grant: Grant, *, reason: str) -> Grant:
    return _set_status(actor, grant, GrantStatus.ACTIVE, reason, (GrantStatus.SUSPENDED,), "exchange.resume_grant")


def revoke_grant(actor: User | None, grant: Grant, *, reason: str) -> Grant:
    return _set_status(actor, grant, GrantStatus.REVOKED, reason, (GrantStatus.ACTIVE, GrantStatus.SUSPENDED),
                       "exchange.revoke_grant")


# --- consent -----------------------------------------------------------------------------------------------


def give_consent(actor: User | None, *, subject: str, resource: Resource, consumer: Department, purpose: str,
                 expires_at: dt.datetime | None = None) -> ConsentRecord:
    """A data subject agrees that `consumer` may read their data in `resource` for `purpose`. The citizen
    acts for themselves; staff may record a consent given on paper."""
    if actor is not None and getattr(actor, "citizen", None) is not None:
        if actor.citizen.resident_id.upper() != subject.strip().upper():
            raise NotPermitted(_("You can only consent for yourself."))
    else:
        require_permission(actor, "exchange.add_consentrecord")
    problems: list[FieldProblem] = []
    purpose = _text(problems, "purpose", purpose, _("State the purpose consented to."))
    raise_if_problems(problems)
    with transaction.atomic():
        consent = ConsentRecord.objects.create(subject_hash=subject_hash(subject.strip().upper()), resource=resource,
                                               consumer=consumer, purpose=purpose, given_at=timezone.now(),
                                               expires_at=expires_at)
        audit.record("exchange.give_consent", actor_of(actor), object_type="consent", object_id=consent.pk,
                     subjects=[subject.strip().upper()], purpose=purpose,
                     detail={"resource": resource.code, "consumer": consumer.code})
    return consent


def withdraw_consent(actor: User | None, consent: ConsentRecord, *, subject: str) -> ConsentRecord:
    """Withdrawal takes effect at once: the next read relying on this consent is refused."""
    if subject_hash(subject.strip().upper()) != consent.subject_hash:
        raise NotPermitted(_("This consent is not the subject's."))
    if actor is not None and getattr(actor, "citizen", None) is not None:
        if actor.citizen.resident_id.upper() != subject.strip().upper():
            raise NotPermitted(_("You can only withdraw your own consent."))
    else:
        require_permission(actor, "exchange.change_consentrecord")
    with transaction.atomic():
        consent = ConsentRecord.objects.select_for_update().get(pk=consent.pk)
        if consent.withdrawn_at is not None:
            raise Conflict(_("This consent has been withdrawn already."))
        consent.withdrawn_at = timezone.now()
        consent.save(update_fields=["withdrawn_at"])
        audit.record("exchange.withdraw_consent", actor_of(actor), object_type="consent", object_id=consent.pk,
                     subjects=[subject.strip().upper()], purpose=consent.purpose,
                     detail={"resource": consent.resource.code, "consumer": consent.consumer.code})
    return consent


# --- deadlines: a reminder before each one, a notice once it has passed ------------------------------------


def _deadline_mail(request: SharingRequest, due: dt.date, *, overdue: bool) -> tuple[str, str]:
    values = {"number": request.number, "due": due.isoformat(), "consumer": request.consumer.name,
              "resource": request.resource.name, "path": reverse("exchange:request", args=[request.number])}
    # Mail goes out from the worker, which has no visitor whose language to follow: the platform's is used.
    with translation.override(settings.LANGUAGE_CODE):
        values["step"] = request.get_status_display()
        if overdue:
            return (_("Overdue: sharing request %(number)s was due on %(due)s") % values,
                    _("Sharing request %(number)s of %(consumer)s for %(resource)s is %(step)s. Its deadline, "
                      "%(due)s, has passed. Please act on it at %(path)s.") % values)
        return (_("Reminder: sharing request %(number)s is due on %(due)s") % values,
                _("Sharing request %(number)s of %(consumer)s for %(resource)s is %(step)s. The deadline is "
                  "%(due)s, counted in working days. Please act on it at %(path)s.") % values)


def _tell_staff_to_act(action: str, request: SharingRequest, due: dt.date, *, overdue: bool) -> None:
    """Mail the staff who must act on the request's current step, and audit it, in the caller's transaction:
    a mail that cannot be sent rolls the step back, so the next run tries again."""
    staff = staff_to_act(request)
    addresses = [user.email for user in staff if user.email]
    if addresses:
        subject, body = _deadline_mail(request, due, overdue=overdue)
        send_mail(subject, body, None, addresses)
    _audit_request(action, None, request, {
        "due": due.isoformat(), "recipients": [user.get_username() for user in staff],
        "without_address": [user.get_username() for user in staff if not user.email]})


def remind_of_deadline(request: SharingRequest) -> bool:
    """The platform reminds the staff who must act of the current step's deadline (the governance office for
    a check or a dispute, the provider's data officers for an answer): once per deadline, as
    SharingRequest.reminded_for records. The worker calls it the working day before. Returns whether a
    reminder went out."""
    with transaction.atomic():
        request = _locked(request, RequestStatus.CHECKING, RequestStatus.PROVIDER_REVIEW, RequestStatus.DISPUTED)
        due = request.current_due
        if due is None or request.reminded_for == due:
            return False
        request.reminded_for = due
        request.save(update_fields=["reminded_for"])
        _tell_staff_to_act("exchange.remind_deadline", request, due, overdue=False)
    return True


def notify_overdue(request: SharingRequest, *, today: dt.date) -> bool:
    """The platform tells the staff who must act that the current step's deadline has passed: once per
    deadline, as SharingRequest.overdue_notice_for records. Returns whether a notice went out."""
    with transaction.atomic():
        request = _locked(request, RequestStatus.CHECKING, RequestStatus.PROVIDER_REVIEW, RequestStatus.DISPUTED)
        due = request.current_due
        if due is None or due >= today or request.overdue_notice_for == due:
            return False
        request.overdue_notice_for = due
        request.save(update_fields=["overdue_notice_for"])
        _tell_staff_to_act("exchange.overdue_notice", request, due, overdue=True)
    return True
