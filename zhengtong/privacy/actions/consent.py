"""Every change of data agreements and consent, as a named verb: policies, agreements (publish, revise, retire),
individuals, and a citizen's consent (give, consent again after a revision, withdraw, forget).

Each action checks who acts, changes state in one transaction and writes its audit entry in it, with a
`Revision` (serialized snapshot, hash chained to the previous revision of the same object) for every change of
a policy, an agreement or a consent.

Who may act:

* policies and agreements: staff with `privacy.change_dataagreement` (the data governance office), or a system
  of the governance office;
* a consent: the citizen for themselves; or, for a consent given on paper or at a counter, staff with
  `exchange.add_consentrecord` (to give) or `exchange.change_consentrecord` (to withdraw), or a system of the
  governance office, acting for the individual.

Consent reaches the one door through the exchange's ConsentRecord: giving consent adds one (naming the agreement
and its version), withdrawing marks it withdrawn, and a new version of an agreement makes every consent to an
older version expire at that moment, so the next gateway call relying on it is refused (consent_missing) until
the citizen consents again. Consent lasts the agreement's `consent_days` in calendar days: it is a period of
validity, not a deadline for anyone to act.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from zhengtong.audit import actions as audit
from zhengtong.audit.models import Result
from zhengtong.audit.subjects import subject_hash
from zhengtong.catalog.models import Resource
from zhengtong.core import crypto, masking
from zhengtong.core.errors import Conflict, FieldProblem, NotPermitted, raise_if_problems
from zhengtong.exchange.models import ConsentRecord
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.identity.models import ApiClient, Citizen, Department, User
from zhengtong.privacy.models import (
    Consent,
    ConsentState,
    DataAgreement,
    Individual,
    LawfulBasis,
    Policy,
    Revision,
    Signature,
    SignatureState,
)
from zhengtong.privacy.queries import consent as consent_queries

Actor = User | ApiClient | None
CONFIGURE = "privacy.change_dataagreement"
GIVE_FOR_OTHERS = "exchange.add_consentrecord"
WITHDRAW_FOR_OTHERS = "exchange.change_consentrecord"
MAX_PURPOSE = 200  # the door's audit entries hold purposes up to this length


# --- who acts ----------------------------------------------------------------------------------------------


def _is_governance_system(actor: Actor) -> bool:
    return isinstance(actor, ApiClient) and actor.is_active and actor.department.is_governance_office


def _refuse(actor: Actor, permission: str) -> NotPermitted:
    audit.record_alone("identity.permission_denied", actor_of(actor), result=Result.DENIED,
                       detail={"permission": permission})
    return NotPermitted(_("You do not have permission to do this."))


def require_configure(actor: Actor) -> None:
    """Staff with the right to configure agreements, or a system of the governance office."""
    if isinstance(actor, ApiClient):
        if not _is_governance_system(actor):
            raise _refuse(actor, CONFIGURE)
        return
    require_permission(actor, CONFIGURE)


def _citizen_of(actor: Actor) -> Citizen | None:
    return getattr(actor, "citizen", None) if isinstance(actor, User) else None


def require_act_for(actor: Actor, individual: Individual, permission: str) -> None:
    """The citizen themselves; staff with `permission`; or a system of the governance office."""
    citizen = _citizen_of(actor)
    if citizen is not None:
        if citizen.pk != individual.citizen_id:
            raise NotPermitted(_("You can only answer for yourself."))
        return
    if isinstance(actor, ApiClient):
        if not _is_governance_system(actor):
            raise _refuse(actor, permission)
        return
    require_permission(actor, permission)


def _by(actor: Actor) -> str:
    if actor is None:
        return "platform"
    if isinstance(actor, ApiClient):
        return f"api_client:{actor.key_id}"
    return f"user:{actor.get_username()}"


# --- revisions ---------------------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def policy_data(policy: Policy) -> dict[str, Any]:
    """A policy as the spec's Policy object."""
    return {"id": policy.public_id, "name": policy.name, "version": str(policy.version), "url": policy.url,
            "jurisdiction": policy.jurisdiction, "industrySector": policy.industry_sector,
            "dataRetentionPeriodDays": policy.data_retention_days,
            "geographicRestriction": policy.geographic_restriction, "storageLocation": policy.storage_location}


def data_attributes(agreement: DataAgreement) -> list[dict[str, Any]]:
    """The agreement's data elements as the spec's DataAgreementAttribute objects, in the agreement's order."""
    items = {item.name: item for item in agreement.resource.items.all()}
    attributes = []
    for name in agreement.data_elements:
        item = items.get(name)
        attributes.append({"id": f"{agreement.public_id}:{name}", "name": name,
                           "sensitivity": item.sensitivity if item else "", "category": item.label if item else ""})
    return attributes


def agreement_data(agreement: DataAgreement) -> dict[str, Any]:
    """An agreement as the spec's DataAgreement object, with what the spec leaves out: the resource, the
    consumer, the data attributes and the consent period (all part of what is consented to)."""
    consumer = agreement.consumer
    return {
        "id": agreement.public_id, "version": str(agreement.version),
        "controller": {"id": consumer.code, "name": consumer.name, "url": ""},
        "policy": policy_data(agreement.policy) if agreement.policy is not None else None,
        "purpose": agreement.purpose, "purposeDescription": agreement.purpose_description,
        "lawfulBasis": agreement.lawful_basis, "dataUse": agreement.data_use, "dpia": agreement.dpia,
        "active": agreement.active and agreement.is_live, "forgettable": agreement.forgettable,
        "lifecycle": {"id": "complete" if agreement.is_live else "deleted",
                      "name": "Complete" if agreement.is_live else "Deleted"},
        "resource": {"id": agreement.resource.code or str(agreement.resource_id), "name": agreement.resource.name},
        "dataAttributes": data_attributes(agreement),
        "consentPeriodDays": agreement.consent_days, "dataRetentionPeriodDays": agreement.retention_days,
    }


def consent_data(consent: Consent) -> dict[str, Any]:
    """A consent as the spec's ConsentRecord object (agreement and individual by id)."""
    return {"id": consent.public_id, "dataAgreement": consent.agreement.public_id,
            "dataAgreementVersion": str(consent.agreement_version),
            "dataAgreementRevision": consent.agreement_revision.public_id,
            "dataAgreementRevisionHash": consent.agreement_revision.serialized_hash,
            "individual": consent.individual.public_id, "optIn": consent.opt_in, "state": consent.state,
            "givenAt": _iso(consent.given_at), "expiresAt": _iso(consent.expires_at),
            "withdrawnAt": _iso(consent.withdrawn_at)}


def latest_revision(schema_name: str, object_id: str) -> Revision | None:
    return Revision.objects.filter(schema_name=schema_name, object_id=object_id, successor__isnull=True).first()


def _revise(schema_name: str, object_id: str, data: dict[str, Any], actor: Actor,
            individual: Individual | None = None) -> Revision:
    """Write the next revision of an object, chained to the latest one, which learns its successor."""
    previous = (Revision.objects.select_for_update()
                .filter(schema_name=schema_name, object_id=object_id, successor__isnull=True).first())
    now = timezone.now()
    snapshot = json.dumps({
        "objectData": data, "schemaName": schema_name, "objectId": object_id, "signedWithoutObjectId": False,
        "timestamp": now.isoformat(), "authorizedByIndividual": individual.public_id if individual else None,
        "authorizedByOther": "" if individual else _by(actor),
    }, ensure_ascii=False, sort_keys=True)
    revision = Revision.objects.create(
        schema_name=schema_name, object_id=object_id, serialized_snapshot=snapshot,
        serialized_hash=crypto.digest(snapshot.encode()).hex(), hash_algorithm=crypto.hash_name(), timestamp=now,
        authorized_by_individual=individual, authorized_by_other="" if individual else _by(actor),
        predecessor_hash=previous.serialized_hash if previous else "")
    if previous is not None:
        previous.successor = revision
        previous.save(update_fields=["successor"])
    return revision


# --- policies ----------------------------------------------------------------------------------------------


@dataclass
class PolicyInput:
    name: str
    url: str
    jurisdiction: str = ""
    industry_sector: str = ""
    data_retention_days: int | None = None
    geographic_restriction: str = ""
    storage_location: str = ""


def _check_policy(data: PolicyInput) -> None:
    problems = []
    if not data.name.strip():
        problems.append(FieldProblem("name", _("Name the policy.")))
    if not data.url.strip().startswith(("https://", "http://")):
        problems.append(FieldProblem("url", _("Give the web address where this version of the policy is read.")))
    if data.data_retention_days is not None and data.data_retention_days < 1:
        problems.append(FieldProblem("dataRetentionPeriodDays", _("Give 1 day or more, or leave it empty.")))
    raise_if_problems(problems)


def _apply_policy(policy: Policy, data: PolicyInput) -> None:
    policy.name, policy.url = data.name.strip(), data.url.strip()
    policy.jurisdiction, policy.industry_sector = data.jurisdiction.strip(), data.industry_sector.strip()
    policy.data_retention_days = data.data_retention_days
    policy.geographic_restriction = data.geographic_restriction.strip()
    policy.storage_location = data.storage_location.strip()


def create_policy(actor: Actor, data: PolicyInput) -> tuple[Policy, Revision]:
    require_configure(actor)
    _check_policy(data)
    with transaction.atomic():
        policy = Policy()
        _apply_policy(policy, data)
        policy.save()
        revision = _revise("Policy", policy.public_id, policy_data(policy), actor)
        audit.record("privacy.create_policy", actor_of(actor), object_type="policy", object_id=policy.public_id,
                     detail={"name": policy.name, "version": policy.version})
    return policy, revision


def update_policy(actor: Actor, policy: Policy, data: PolicyInput) -> tuple[Policy, Revision]:
    """A new version of the policy. Agreements keep the policy as it was in their own revisions."""
    require_configure(actor)
    _check_policy(data)
    with transaction.atomic():
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        if policy.deleted_at is not None:
            raise Conflict(_("This policy has been deleted."))
        _apply_policy(policy, data)
        policy.version += 1
        policy.save()
        revision = _revise("Policy", policy.public_id, policy_data(policy), actor)
        audit.record("privacy.update_policy", actor_of(actor), object_type="policy", object_id=policy.public_id,
                     detail={"name": policy.name, "version": policy.version})
    return policy, revision


def delete_policy(actor: Actor, policy: Policy) -> Revision:
    """Delete a policy no live agreement refers to; its revisions stay."""
    require_configure(actor)
    with transaction.atomic():
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        if policy.deleted_at is not None:
            raise Conflict(_("This policy has been deleted."))
        if policy.data_agreements.filter(deleted_at__isnull=True).exists():
            raise Conflict(_("Data agreements still refer to this policy."))
        policy.deleted_at = timezone.now()
        policy.save(update_fields=["deleted_at", "updated_at"])
        revision = _revise("Policy", policy.public_id, {**policy_data(policy), "deleted": True}, actor)
        audit.record("privacy.delete_policy", actor_of(actor), object_type="policy", object_id=policy.public_id)
    return revision


# --- agreements --------------------------------------------------------------------------------------------


@dataclass
class AgreementInput:
    """The terms of an agreement. Every term but `active` is part of what is consented to."""

    resource: Resource
    consumer: Department
    purpose: str
    data_elements: list[str] = field(default_factory=list)
    purpose_description: str = ""
    lawful_basis: str = LawfulBasis.CONSENT
    consent_days: int | None = None
    retention_days: int | None = None
    policy: Policy | None = None
    dpia: str = ""
    data_use: str = ""
    forgettable: bool = False
    active: bool = True


TERMS = ("resource_id", "consumer_id", "purpose", "data_elements", "purpose_description", "lawful_basis",
         "consent_days", "retention_days", "policy_id", "dpia", "data_use", "forgettable")


def _check_agreement(data: AgreementInput) -> None:
    problems = []
    purpose = data.purpose.strip()
    if not purpose:
        problems.append(FieldProblem("purpose", _("State the purpose the data is used for.")))
    elif len(purpose) > MAX_PURPOSE:
        problems.append(FieldProblem("purpose", _("Keep the purpose to %(n)d characters.") % {"n": MAX_PURPOSE}))
    if data.lawful_basis not in LawfulBasis.values:
        problems.append(FieldProblem("lawfulBasis", _("Choose one of: %(choices)s.") % {
            "choices": ", ".join(LawfulBasis.values)}))
    known = set(data.resource.items.values_list("name", flat=True))
    if not data.data_elements:
        problems.append(FieldProblem("dataAttributes", _("Name at least one field of the resource.")))
    unknown = [name for name in data.data_elements if name not in known]
    if unknown:
        problems.append(FieldProblem("dataAttributes", _("The resource has no field %(names)s.") % {
            "names": ", ".join(unknown)}))
    for name, value in (("consentPeriodDays", data.consent_days), ("dataRetentionPeriodDays", data.retention_days)):
        if value is not None and value < 1:
            problems.append(FieldProblem(name, _("Give 1 day or more, or leave it empty.")))
    if data.policy is not None and data.policy.deleted_at is not None:
        problems.append(FieldProblem("policy", _("This policy has been deleted.")))
    if data.resource.provider_id == data.consumer.pk:
        problems.append(FieldProblem("controller", _("The provider of a resource needs no agreement for it.")))
    raise_if_problems(problems)


def _apply_agreement(agreement: DataAgreement, data: AgreementInput) -> None:
    agreement.resource, agreement.consumer, agreement.policy = data.resource, data.consumer, data.policy
    agreement.purpose, agreement.purpose_description = data.purpose.strip(), data.purpose_description.strip()
    agreement.lawful_basis = data.lawful_basis
    agreement.data_elements = list(dict.fromkeys(data.data_elements))
    agreement.consent_days, agreement.retention_days = data.consent_days, data.retention_days
    agreement.dpia, agreement.data_use = data.dpia.strip(), data.data_use.strip()
    agreement.forgettable = data.forgettable
    agreement.active = data.active


def _audit_agreement(action: str, actor: Actor, agreement: DataAgreement, detail: dict[str, Any]) -> None:
    audit.record(action, actor_of(actor), object_type="data_agreement", object_id=agreement.public_id,
                 purpose=agreement.purpose, fields=agreement.data_elements,
                 detail={"resource": agreement.resource.code or str(agreement.resource_id),
                         "consumer": agreement.consumer.code, "version": agreement.version, **detail})


def publish_agreement(actor: Actor, data: AgreementInput) -> tuple[DataAgreement, Revision]:
    """A new agreement, at version 1, open to consent at once unless `active` is false."""
    require_configure(actor)
    _check_agreement(data)
    with transaction.atomic():
        # Locks the consumer's row, so two publications for one resource cannot both pass the check below.
        Department.objects.select_for_update().filter(pk=data.consumer.pk).first()
        if DataAgreement.objects.filter(resource=data.resource, consumer=data.consumer,
                                        deleted_at__isnull=True).exists():
            raise Conflict(_("This department already has an agreement for this resource: revise it instead."))
        agreement = DataAgreement()
        _apply_agreement(agreement, data)
        agreement.save()
        revision = _revise("DataAgreement", agreement.public_id, agreement_data(agreement), actor)
        _audit_agreement("privacy.publish_agreement", actor, agreement, {"revision": revision.public_id})
    return agreement, revision


def revise_agreement(actor: Actor, agreement: DataAgreement, data: AgreementInput) -> tuple[DataAgreement, Revision]:
    """Change an agreement. A change of its terms raises its version, and the consents given to older versions
    stop counting at once (the door answers consent_missing) until each citizen consents again; opening or
    closing it to new consent alone keeps the version."""
    require_configure(actor)
    problems = []
    if data.resource.pk != agreement.resource_id:
        problems.append(FieldProblem("resource", _("An agreement stays with its resource; publish another.")))
    if data.consumer.pk != agreement.consumer_id:
        problems.append(FieldProblem("controller", _("An agreement stays with its department; publish another.")))
    raise_if_problems(problems)
    _check_agreement(data)
    with transaction.atomic():
        agreement = DataAgreement.objects.select_for_update(of=("self",)).select_related("resource", "consumer").get(
            pk=agreement.pk)
        if not agreement.is_live:
            raise Conflict(_("This agreement has been withdrawn from use."))
        before = {name: getattr(agreement, name) for name in TERMS}
        _apply_agreement(agreement, data)
        changed = [name.removesuffix("_id") for name in TERMS if getattr(agreement, name) != before[name]]
        if changed:
            agreement.version += 1
        agreement.save()
        revision = _revise("DataAgreement", agreement.public_id, agreement_data(agreement), actor)
        lapsed = _lapse_consents(agreement, below_version=agreement.version) if changed else 0
        _audit_agreement("privacy.revise_agreement", actor, agreement,
                         {"changed": changed, "active": agreement.active, "lapsed_consents": lapsed,
                          "revision": revision.public_id})
    return agreement, revision


def retire_agreement(actor: Actor, agreement: DataAgreement, *, reason: str = "") -> Revision:
    """Withdraw an agreement from use (the spec's delete): nobody can consent to it any more and the consents
    given to it stop counting at once. It and its history stay, for the audit."""
    require_configure(actor)
    with transaction.atomic():
        agreement = DataAgreement.objects.select_for_update(of=("self",)).select_related("resource", "consumer").get(
            pk=agreement.pk)
        if not agreement.is_live:
            raise Conflict(_("This agreement has been withdrawn from use."))
        agreement.deleted_at, agreement.active = timezone.now(), False
        agreement.save(update_fields=["deleted_at", "active", "updated_at"])
        revision = _revise("DataAgreement", agreement.public_id, agreement_data(agreement), actor)
        lapsed = _lapse_consents(agreement, below_version=agreement.version + 1)
        _audit_agreement("privacy.retire_agreement", actor, agreement,
                         {"reason": reason.strip(), "lapsed_consents": lapsed, "revision": revision.public_id})
    return revision


def _lapse_consents(agreement: DataAgreement, *, below_version: int) -> int:
    """Make the door's consent records of older versions expire now; returns how many were still in force."""
    now = timezone.now()
    return (ConsentRecord.objects
            .filter(agreement_ref=agreement.public_id, agreement_version__lt=below_version, withdrawn_at__isnull=True)
            .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
            .update(expires_at=now))


# --- individuals -------------------------------------------------------------------------------------------


def individual_for(citizen: Citizen) -> Individual:
    """The citizen's individual in the consent system, made on first use (the mapping changes nothing the
    citizen could be asked about, so it is not audited on its own: the action that needs it is)."""
    individual, _created = Individual.objects.get_or_create(
        citizen=citizen, defaults={"subject_hash": subject_hash(citizen.resident_id)})
    return individual


def register_individual(actor: Actor, *, resident_id: str, identity_provider_id: str = "") -> Individual:
    """A system or staff of the governance office names a registered citizen to the consent system by resident
    ID. Registering the same citizen again answers the same individual."""
    require_configure(actor)
    citizen = Citizen.objects.filter(resident_id=resident_id.strip().upper()).first()
    if citizen is None:
        raise_if_problems([FieldProblem("externalId", _("No registered citizen has this resident ID."))])
    assert citizen is not None
    with transaction.atomic():
        individual = individual_for(citizen)
        if identity_provider_id.strip() and individual.identity_provider_id != identity_provider_id.strip():
            individual.identity_provider_id = identity_provider_id.strip()
            individual.save(update_fields=["identity_provider_id"])
        audit.record("privacy.register_individual", actor_of(actor), object_type="individual",
                     object_id=individual.public_id, subjects=[citizen.resident_id])
    return individual


def set_identity_provider(actor: Actor, individual: Individual, identity_provider_id: str) -> Individual:
    """Record which identity provider vouches for the individual (the only thing about them that changes)."""
    require_act_for(actor, individual, GIVE_FOR_OTHERS)
    with transaction.atomic():
        individual = Individual.objects.select_for_update(of=("self",)).select_related("citizen").get(pk=individual.pk)
        individual.identity_provider_id = identity_provider_id.strip()
        individual.save(update_fields=["identity_provider_id"])
        audit.record("privacy.update_individual", actor_of(actor), object_type="individual",
                     object_id=individual.public_id, subjects=[individual.citizen.resident_id],
                     detail={"identity_provider_id": individual.identity_provider_id})
    return individual


def masked_external_id(individual: Individual) -> str:
    return masking.mask_resident_id(individual.citizen.resident_id)


# --- consent -----------------------------------------------------------------------------------------------


@dataclass
class SignatureInput:
    """A signature made in another system by the individual's own key (or by a delegate's). The platform
    verifies it when `verification_method` is an algorithm it knows (VERIFIABLE) and `verification_artifact`
    holds the signer's raw public key in base64: `signature` is then the base64 signature of the payload
    handed out for signing (the revision's serialized snapshot)."""

    signature: str
    verification_method: str
    verification_signed_by: str
    verification_signed_as: str = ""  # empty: "individual" for the citizen themselves, else "delegate"
    verification_artifact: str = ""
    verification_jws_header: str = ""


VERIFIABLE = ("ed25519", "sm2")  # the algorithms core.crypto verifies


def _consent_revision(consent: Consent, actor: Actor) -> Revision:
    own = _citizen_of(actor) is not None
    return _revise("ConsentRecord", consent.public_id, consent_data(consent), actor,
                   individual=consent.individual if own else None)


def _decoded(value: str, field_name: str, problems: list[FieldProblem]) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except ValueError:
        problems.append(FieldProblem(field_name, _("Give it in base64.")))
        return b""


def _verify(given: SignatureInput, payload: str) -> bool:
    """Whether the given signature is checked good; False when the platform cannot check it (a method it does
    not know, no public key). A signature it can check and that does not verify is refused, naming the field."""
    algorithm = given.verification_method.strip().lower()
    if algorithm not in VERIFIABLE or not given.verification_artifact.strip():
        return False
    problems: list[FieldProblem] = []
    public_key = _decoded(given.verification_artifact, "signature.verificationArtifact", problems)
    signature = _decoded(given.signature, "signature.signature", problems)
    raise_if_problems(problems)
    if not crypto.verify_signature(algorithm, public_key, payload.encode(), signature):
        raise_if_problems([FieldProblem("signature.signature", _(
            "The signature does not verify over the payload with the public key given."))])
    return True


def _signed_as(actor: Actor, individual: Individual, claimed: str) -> str:
    """Only the citizen in their own session signs as the individual; anyone acting for them is a delegate."""
    own = _citizen_of(actor) is not None and _citizen_of(actor).pk == individual.citizen_id  # type: ignore[union-attr]
    if claimed == "individual" and not own:
        raise_if_problems([FieldProblem("signature.verificationSignedAs", _(
            "You act for the individual: the signature is a delegate's."))])
    return claimed or ("individual" if own else "delegate")


def _sign(consent: Consent, revision: Revision, actor: Actor, given: SignatureInput | None = None, *,
          verified: bool = False) -> Signature:
    """Store a signature over `revision`: the one given (`verified` says whether `_verify` checked it good), or
    the platform's own, by its key, as witness of an answer given in the citizen's session or recorded for
    them."""
    verification_payload, payload_hash = revision.serialized_snapshot, revision.serialized_hash
    now = timezone.now()
    signed_as = _signed_as(actor, consent.individual, given.verification_signed_as if given else "")
    if given is not None:
        method, signed_by = given.verification_method, given.verification_signed_by
        artifact, jws = given.verification_artifact, given.verification_jws_header
    else:
        signer = crypto.load_signer()
        method, signed_by = f"zhengtong-platform-{signer.algorithm}", signer.key_id
        artifact, jws, verified = "", "", True
    payload = json.dumps({
        "verificationPayload": verification_payload, "verificationPayloadHash": payload_hash,
        "verificationMethod": method, "verificationArtifact": artifact, "verificationSignedBy": signed_by,
        "verificationJwsHeader": jws, "timestamp": now.isoformat(), "signedWithoutObjectReference": False,
        "objectType": "revision", "objectReference": revision.public_id,
    }, ensure_ascii=False, sort_keys=True)
    value = given.signature if given is not None else base64.b64encode(
        crypto.load_signer().sign(payload.encode())).decode()
    return Signature.objects.create(
        consent=consent, payload=payload, signature=value, verification_method=method,
        verification_payload=verification_payload, verification_payload_hash=payload_hash,
        verification_artifact=artifact, verification_signed_by=signed_by, verification_signed_as=signed_as,
        verification_jws_header=jws, timestamp=now, object_type="revision", object_reference=revision.public_id,
        verified=verified)


def _check_consentable(agreement: DataAgreement) -> None:
    if not agreement.is_live or not agreement.active:
        raise Conflict(_("This agreement is not open to consent."))
    if agreement.lawful_basis != LawfulBasis.CONSENT:
        raise Conflict(_("This agreement rests on %(basis)s, not on consent.") % {
            "basis": agreement.get_lawful_basis_display()})


def _audit_consent(action: str, actor: Actor, consent: Consent, detail: dict[str, Any]) -> None:
    agreement = consent.agreement
    audit.record(action, actor_of(actor), object_type="consent", object_id=consent.public_id,
                 subjects=[consent.individual.citizen.resident_id], purpose=agreement.purpose,
                 fields=agreement.data_elements,
                 detail={"agreement": agreement.public_id, "version": consent.agreement_version,
                         "resource": agreement.resource.code or str(agreement.resource_id),
                         "consumer": agreement.consumer.code, **detail})


def give_consent(actor: Actor, agreement: DataAgreement, individual: Individual, *,
                 signature: SignatureInput | None = None) -> Consent:
    """The individual consents to the agreement's current version: at once the door counts it for the
    consumer's grants on consent, for the agreement's data elements. Also how a citizen consents again after the
    agreement changed. Consenting again to a version withdrawn or expired turns that version's record back on.

    With `signature`, the individual signed the agreement's current revision elsewhere (the draft's payload):
    the consent is "signed" when the platform verified it, "unverified" when it could not; without, the
    platform signs the consent's revision as witness."""
    require_act_for(actor, individual, GIVE_FOR_OTHERS)
    with transaction.atomic():
        agreement = DataAgreement.objects.select_for_update(of=("self",)).select_related("resource", "consumer").get(
            pk=agreement.pk)
        _check_consentable(agreement)
        revision = latest_revision("DataAgreement", agreement.public_id)
        assert revision is not None  # every agreement is published with its first revision
        now = timezone.now()
        # The same version may have several revisions (a change that is not of terms, such as closing the
        # agreement to new consent and opening it again): one consent in force per version all the same.
        if Consent.objects.filter(agreement=agreement, individual=individual, agreement_version=agreement.version,
                                  opt_in=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).exists():
            raise Conflict(_("You have already consented to this version of the agreement."))
        verified = signature is None or _verify(signature, revision.serialized_snapshot)
        consent = (Consent.objects.select_for_update()
                   .filter(agreement_revision=revision, individual=individual).first())
        if consent is None:
            consent = Consent(individual=individual, agreement=agreement, agreement_revision=revision,
                              agreement_version=agreement.version)
        expires_at = now + dt.timedelta(days=agreement.consent_days) if agreement.consent_days else None
        consent.exchange_record = ConsentRecord.objects.create(
            subject_hash=individual.subject_hash, resource=agreement.resource, consumer=agreement.consumer,
            purpose=agreement.purpose, given_at=now, expires_at=expires_at, agreement_ref=agreement.public_id,
            agreement_version=agreement.version, fields=list(agreement.data_elements))
        consent.opt_in, consent.given_at, consent.expires_at, consent.withdrawn_at = True, now, expires_at, None
        consent.state = SignatureState.SIGNED if verified else SignatureState.UNVERIFIED
        consent.save()
        consent_revision = _consent_revision(consent, actor)
        if signature is None:
            _sign(consent, consent_revision, actor, verified=True)
        else:
            _sign(consent, revision, actor, signature, verified=verified)
        _audit_consent("privacy.give_consent", actor, consent, {"revision": consent_revision.public_id,
                                                                "expires_at": _iso(expires_at)})
    return consent


def sign_consent(actor: Actor, consent: Consent, signature: SignatureInput) -> Signature:
    """Add the individual's own signature, made in another system, over the consent's latest revision. Only a
    consent in force is signed: a withdrawn, expired or outdated one is a conflict. A signature the platform
    cannot verify is kept but does not make the consent "signed"."""
    require_act_for(actor, consent.individual, GIVE_FOR_OTHERS)
    with transaction.atomic():
        consent = (Consent.objects.select_for_update(of=("self",))
                   .select_related("agreement__resource", "agreement__consumer", "individual__citizen")
                   .get(pk=consent.pk))
        if consent_queries.state_of(consent.agreement, consent) != ConsentState.GIVEN:
            raise Conflict(_("This consent is withdrawn, expired or for an older version of the agreement; only a "
                             "consent in force can be signed."))
        revision = latest_revision("ConsentRecord", consent.public_id)
        assert revision is not None  # every consent is written with its first revision
        verified = _verify(signature, revision.serialized_snapshot)
        signed = _sign(consent, revision, actor, signature, verified=verified)
        if verified and consent.state != SignatureState.SIGNED:
            consent.state = SignatureState.SIGNED
        elif consent.state == SignatureState.UNSIGNED:
            consent.state = SignatureState.UNVERIFIED
        consent.save(update_fields=["state", "updated_at"])
        _audit_consent("privacy.sign_consent", actor, consent, {"signature": signed.public_id,
                                                                "method": signed.verification_method,
                                                                "verified": verified})
    return signed


def withdraw_consent(actor: Actor, agreement: DataAgreement, individual: Individual) -> Consent:
    """The individual withdraws consent to the agreement (every version they consented to): from this moment
    the door refuses the consumer's calls relying on it (consent_withdrawn)."""
    require_act_for(actor, individual, WITHDRAW_FOR_OTHERS)
    with transaction.atomic():
        given = list(Consent.objects.select_for_update(of=("self",)).select_related("exchange_record")
                     .filter(agreement=agreement, individual=individual, opt_in=True)
                     .order_by("-agreement_version", "-pk"))
        if not given:
            raise Conflict(_("There is no consent to this agreement to withdraw."))
        now = timezone.now()
        # A consent recorded without an agreement (on paper, before the privacy centre) for the same use goes
        # too: the citizen withdrawing here means the consumer may no longer rely on their consent at all.
        unagreed = ConsentRecord.objects.filter(
            subject_hash=individual.subject_hash, resource=agreement.resource_id, consumer=agreement.consumer_id,
            agreement_ref="", withdrawn_at__isnull=True).update(withdrawn_at=now)
        for consent in given:
            consent.opt_in, consent.withdrawn_at = False, now
            consent.save(update_fields=["opt_in", "withdrawn_at", "updated_at"])
            if consent.exchange_record is not None and consent.exchange_record.withdrawn_at is None:
                ConsentRecord.objects.filter(pk=consent.exchange_record.pk).update(withdrawn_at=now)
            revision = _consent_revision(consent, actor)  # the withdrawal is a revision of its own, signed as
            _sign(consent, revision, actor, verified=True)  # a consent given is: by the platform, as witness
            _audit_consent("privacy.withdraw_consent", actor, consent,
                           {"revision": revision.public_id, "unagreed_consents_withdrawn": unagreed})
    return given[0]


def forget_consents(actor: Actor, individual: Individual) -> int:
    """The right to be forgotten: delete the individual's withdrawn consents to forgettable agreements (their
    revisions and the door's records stay, as the audit needs them). Returns how many were deleted."""
    require_act_for(actor, individual, WITHDRAW_FOR_OTHERS)
    with transaction.atomic():
        forgettable = list(Consent.objects.select_for_update()
                           .filter(individual=individual, opt_in=False, agreement__forgettable=True))
        for consent in forgettable:
            consent.delete()  # with its signatures
        audit.record("privacy.forget_consents", actor_of(actor), object_type="individual",
                     object_id=individual.public_id, subjects=[individual.citizen.resident_id],
                     detail={"deleted": [c.public_id for c in forgettable]})
    return len(forgettable)
