"""The logged-in citizen's consent, under /api/v1/privacy/consents: the data agreements that ask for their
consent with where they stand, giving consent (again, after an agreement changed) and withdrawing it. What is
given or withdrawn here is what the one door checks at the consumer's next call."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from zhengtong.core.errors import DomainError, FieldProblem, NotPermitted
from zhengtong.identity.models import Citizen
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.queries import consent as queries
from zhengtong.privacy.queries.consent import AgreementState

router = Router(tags=["privacy"])


class NoSuchAgreement(DomainError):
    code = "not_found"
    status = 404

    def __init__(self) -> None:
        message = _("There is no such data agreement for you.")
        super().__init__(message, [FieldProblem("agreement_id", message)])


class DataElementOut(Schema):
    name: str
    label: str
    sensitivity: str


class PartyOut(Schema):
    code: str
    name: str


class AgreementStateOut(Schema):
    id: str
    version: int
    purpose: str
    purpose_description: str
    lawful_basis: str
    consumer: PartyOut
    resource: PartyOut
    data_elements: list[DataElementOut]
    consent_days: int | None
    retention_days: int | None
    policy_url: str
    open_to_consent: bool
    state: str
    state_label: str
    consented_version: int | None
    given_at: dt.datetime | None
    expires_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    added_since_consent: list[str]
    removed_since_consent: list[str]
    may_give: bool
    may_withdraw: bool


def _citizen(request: HttpRequest) -> Citizen:
    citizen = getattr(request.user, "citizen", None)
    if citizen is None:
        raise NotPermitted(_("Only a citizen logged in answers for their consent."))
    return citizen


def _out(item: AgreementState) -> AgreementStateOut:
    agreement, consent = item.agreement, item.consent
    elements = [DataElementOut(name=a["name"], label=a["category"], sensitivity=a["sensitivity"])
                for a in actions.data_attributes(agreement)]
    return AgreementStateOut(
        id=agreement.public_id, version=agreement.version, purpose=agreement.purpose,
        purpose_description=agreement.purpose_description, lawful_basis=agreement.lawful_basis,
        consumer=PartyOut(code=agreement.consumer.code, name=agreement.consumer.name),
        resource=PartyOut(code=agreement.resource.code or "", name=agreement.resource.name),
        data_elements=elements, consent_days=agreement.consent_days, retention_days=agreement.retention_days,
        policy_url=agreement.policy.url if agreement.policy else "",
        open_to_consent=agreement.is_live and agreement.active, state=item.state.value,
        state_label=str(item.state.label), consented_version=consent.agreement_version if consent else None,
        given_at=consent.given_at if consent else None, expires_at=consent.expires_at if consent else None,
        withdrawn_at=consent.withdrawn_at if consent else None, added_since_consent=item.added,
        removed_since_consent=item.removed, may_give=item.may_give, may_withdraw=item.may_withdraw)


def _state(citizen: Citizen, agreement_id: str) -> AgreementState:
    item = queries.citizen_agreement(citizen, agreement_id)
    if item is None:
        raise NoSuchAgreement()
    return item


@router.get("/privacy/consents", response=list[AgreementStateOut], summary="My data agreements and my consent")
def list_consents(request: HttpRequest) -> list[AgreementStateOut]:
    return [_out(item) for item in queries.citizen_agreements(_citizen(request))]


@router.get("/privacy/consents/{agreement_id}", response=AgreementStateOut, summary="One data agreement and my "
            "consent to it")
def read_consent(request: HttpRequest, agreement_id: str) -> AgreementStateOut:
    return _out(_state(_citizen(request), agreement_id))


@router.post("/privacy/consents/{agreement_id}/give", response=AgreementStateOut,
             summary="Consent to the agreement's current version")
def give(request: HttpRequest, agreement_id: str) -> AgreementStateOut:
    citizen = _citizen(request)
    agreement = _state(citizen, agreement_id).agreement
    actions.give_consent(request.user, agreement, actions.individual_for(citizen))  # type: ignore[arg-type]
    return _out(_state(citizen, agreement_id))


@router.post("/privacy/consents/{agreement_id}/withdraw", response=AgreementStateOut,
             summary="Withdraw my consent to the agreement")
def withdraw(request: HttpRequest, agreement_id: str) -> AgreementStateOut:
    citizen = _citizen(request)
    agreement = _state(citizen, agreement_id).agreement
    actions.withdraw_consent(request.user, agreement, actions.individual_for(citizen))  # type: ignore[arg-type]
    return _out(_state(citizen, agreement_id))
