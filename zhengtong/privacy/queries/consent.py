"""Reads of data agreements and consent: a citizen's agreements with where they stand, and what the governance
office sees of each agreement."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from zhengtong.identity.models import Citizen
from zhengtong.privacy.models import Consent, ConsentState, DataAgreement, Individual, LawfulBasis, Revision


@dataclass(frozen=True)
class AgreementState:
    """One agreement as a citizen sees it: their latest answer and whether it still counts. When the agreement
    changed since they consented, `added` and `removed` name the data elements that changed."""

    agreement: DataAgreement
    state: ConsentState
    consent: Consent | None = None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def may_give(self) -> bool:
        return (self.agreement.is_live and self.agreement.active and self.state != ConsentState.GIVEN
                and self.agreement.lawful_basis == LawfulBasis.CONSENT)

    @property
    def may_withdraw(self) -> bool:
        return self.consent is not None and self.consent.opt_in


def state_of(agreement: DataAgreement, consent: Consent | None) -> ConsentState:
    """Where an answer stands: the latest consent of an individual to the agreement decides."""
    if consent is None:
        return ConsentState.NEVER_ASKED
    if not consent.opt_in:
        return ConsentState.WITHDRAWN
    if not agreement.is_live:
        return ConsentState.ENDED
    if consent.agreement_version < agreement.version:
        return ConsentState.NEEDS_RENEWAL
    if consent.expires_at is not None and consent.expires_at <= timezone.now():
        return ConsentState.EXPIRED
    return ConsentState.GIVEN


def _elements_of(revision: Revision) -> list[str]:
    data = json.loads(revision.serialized_snapshot)["objectData"]
    return [attribute["name"] for attribute in data.get("dataAttributes", [])]


def _with_state(agreement: DataAgreement, consent: Consent | None) -> AgreementState:
    state = state_of(agreement, consent)
    if state != ConsentState.NEEDS_RENEWAL or consent is None:
        return AgreementState(agreement, state, consent)
    before = _elements_of(consent.agreement_revision)
    return AgreementState(agreement, state, consent, added=[n for n in agreement.data_elements if n not in before],
                          removed=[n for n in before if n not in agreement.data_elements])


def latest_consents(individual: Individual | None) -> dict[int, Consent]:
    """Agreement id → the individual's latest consent to it (newest version, then newest record)."""
    if individual is None:
        return {}
    latest: dict[int, Consent] = {}
    for consent in (Consent.objects.filter(individual=individual)
                    .select_related("agreement_revision").order_by("agreement_version", "updated_at", "pk")):
        latest[consent.agreement_id] = consent
    return latest


def _individual_of(citizen: Citizen) -> Individual | None:
    return Individual.objects.filter(citizen=citizen).first()


def citizen_agreements(citizen: Citizen) -> list[AgreementState]:
    """Every agreement open to consent, and every agreement the citizen has answered, with where they stand:
    given, withdrawn, needs renewal (the agreement changed, or was withdrawn from use), expired, never asked."""
    latest = latest_consents(_individual_of(citizen))
    agreements = (DataAgreement.objects.select_related("resource", "consumer", "policy")
                  .filter(Q(deleted_at__isnull=True, active=True, lawful_basis=LawfulBasis.CONSENT)
                          | Q(pk__in=list(latest)))
                  .order_by("consumer__code", "purpose", "pk"))
    return [_with_state(agreement, latest.get(agreement.pk)) for agreement in agreements]


def citizen_agreement(citizen: Citizen, public_id: str) -> AgreementState | None:
    """One agreement by its id, as the citizen sees it; None when there is no such agreement for them."""
    for item in citizen_agreements(citizen):
        if item.agreement.public_id == public_id:
            return item
    return None


def consent_history(citizen: Citizen, agreement: DataAgreement) -> list[Revision]:
    """Every revision of the citizen's consents to the agreement, oldest first: what they agreed to and when."""
    individual = _individual_of(citizen)
    if individual is None:
        return []
    ids = list(Consent.objects.filter(individual=individual, agreement=agreement).values_list("public_id", flat=True))
    return list(Revision.objects.filter(schema_name="ConsentRecord", object_id__in=ids).order_by("timestamp", "pk"))


def agreements() -> QuerySet[DataAgreement]:
    """Every agreement, live first, for the governance office."""
    return (DataAgreement.objects.select_related("resource", "consumer", "policy")
            .order_by("deleted_at", "consumer__code", "purpose", "pk"))


def agreement_revisions(agreement: DataAgreement) -> list[Revision]:
    """The agreement's history, oldest first."""
    return list(Revision.objects.filter(schema_name="DataAgreement", object_id=agreement.public_id)
                .order_by("timestamp", "pk"))


def consent_counts(agreement: DataAgreement) -> dict[str, int]:
    """How many individuals stand where with the agreement: given, needs_renewal, expired, withdrawn."""
    counts = {state.value: 0 for state in ConsentState if state != ConsentState.NEVER_ASKED}
    latest: dict[int, Consent] = {}
    for consent in Consent.objects.filter(agreement=agreement).order_by("agreement_version", "updated_at", "pk"):
        latest[consent.individual_id] = consent
    for consent in latest.values():
        counts[state_of(agreement, consent).value] += 1
    return counts


def consenting_count(agreement: DataAgreement) -> int:
    """Individuals whose consent to the current version counts now."""
    return (Consent.objects.filter(agreement=agreement, agreement_version=agreement.version, opt_in=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
            .aggregate(n=Count("individual", distinct=True))["n"])
