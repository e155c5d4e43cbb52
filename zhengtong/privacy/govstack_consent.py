"""The GovStack Consent API 1.1.0 (spec: ../shared/specs/govstack/consent/consent-api-1.1.0-rc1.yaml), served
under /govstack/consent/: policies, data agreements, individuals, consent records with their signatures, and
the audit endpoints, over the privacy center's consent actions (privacy.actions.consent). A consent given or
withdrawn here is what the one door checks at the next gateway call.

Where the spec leaves a choice open, this is what the API does:

* Who calls. The spec's security is left out (commented out); here every call is authenticated: a department
  system (`Authorization: Bearer <key id>.<secret>`, or the Information-Mediator-Client header from a trusted
  Information Mediator, as in exchange/callers.py), or a browser session (CSRF token on writes). Without either
  the answer is 401; an authenticated caller without the right gets 403 (see the status codes below).
* config/*: reading needs a system (the governance office's sees every agreement, another department's only the
  agreements it is the consumer of) or staff with `privacy.view_dataagreement`; changing policies, agreements and
  individuals needs staff with `privacy.change_dataagreement` or a system of the governance office.
* service/*: acts for one individual. A logged-in citizen always acts for themselves (a different individual id
  is refused). A system of the governance office, or staff allowed to record consent for others
  (`exchange.add_consentrecord`; `exchange.change_consentrecord` to withdraw), acts for the individual named by
  the `X-Individual-Id` header (the spec's "Individual ID supplied as HTTP header", which it does not name) or
  the `individualId` query parameter. Reading agreements and policies (`service/data-agreement`,
  `service/policy`) and `service/verification/*` are open to every authenticated caller, each seeing its own
  part: a consumer department's system sees its own agreements and the consents given to them, so it can check
  consent before it calls; a citizen their own.
* audit/*: a system of the governance office, or staff with `privacy.view_consent`. An agreement read through the
  audit endpoint carries its whole revision history (`revisions`).
* Individuals are registered citizens: `externalId` is the resident ID and must belong to one (else 400). It is
  answered masked; registering the same citizen again answers the same individual.
* A data agreement is for one catalog resource and one consumer department. Beyond the spec's fields it takes
  `resource` (resource code), `controller.id` (the consumer department's code), `dataAttributes` (field names of
  the resource, or objects with a `name`), `purposeDescription`, `consentPeriodDays` (empty: until withdrawn) and
  `dataRetentionPeriodDays`, and answers them too. `id` and `version` are the platform's: every change of terms
  raises the version, and consents to older versions stop counting until the individual consents again.
  DELETE withdraws the agreement from use; it and its history stay.
* Revisions: `serializedHash` is the platform suite's hash (SHA-256, or SM3 under the 国密 suite), not SHA-1;
  revisions are chained by `predecessorHash`. Consent records are unique per (agreement revision, individual):
  consenting again to the same revision turns the same record back on; one consent is in force per agreement
  version and individual. A consent covers the agreement's `dataAttributes` only: the one door does not count it
  for a grant that reads more fields.
* Signing: a consent given without a signature is signed by the platform's key as witness
  (`verificationMethod` `zhengtong-platform-ed25519` or `-sm2`), and so is its withdrawal, a revision of its own.
  `verificationSignedAs` is `individual` only in the citizen's own session; whoever acts for them (a system, staff)
  signs as `delegate`, and claiming `individual` is refused (400). A signature sent with
  `POST service/individual/record/consent-record/` (over the draft's payload: the agreement's revision) or
  `PUT .../signature/` (over the consent's latest revision) is verified when `verificationMethod` is `ed25519` or
  `sm2` and `verificationArtifact` holds the signer's raw public key in base64, `signature` being the base64
  signature of `verificationPayload`: a bad one is refused (400, naming `signature.signature`), a good one makes
  the consent `signed`. Any other method cannot be checked: the signature is kept, and the consent's state is
  `unverified`, never `signed`. Only a consent in force can be signed (a withdrawn, expired or outdated one is a
  conflict). `POST .../signature/` answers a payload ready for signing without storing anything. Whether a
  consent counts never depends on its signature.
* `PUT service/individual/record/consent-record/{id}/` changes only `optIn`: false withdraws; true consents to the
  agreement's current version. A consent record is never created with `optIn` false: withdrawing is the way to
  say no.
* `DELETE service/individual/record/` deletes the individual's withdrawn consents to forgettable agreements (the
  revisions stay, for the audit) and answers how many.
* Status codes: the spec's 200 for success and 400 for every bad request, with the platform's error body
  {code, message, details[{field, reason}]}. An id that names nothing is a bad input parameter (400, code
  `not_found`, naming the parameter); a request that conflicts with the state (consent given twice to the same
  version, signing a withdrawn consent, deleting a policy in use) is 400 with code `conflict`. Outside the spec,
  with the same body: 401 without authentication, 403 for a caller without the right, 429 when a caller's rate
  is exceeded, 501 for the webhook endpoints, 500 for a failure of the platform's own.
* Lists take `offset` (from 0) and `limit` (default 50, at most 500).
* Webhooks are not offered yet: the config/webhook endpoints answer 501 with a message saying so.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import structlog
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, ValidationError
from ninja.security import SessionAuth

from zhengtong.catalog.models import Resource
from zhengtong.core.errors import DomainError, FieldProblem, InvalidInput, NotPermitted, raise_if_problems
from zhengtong.exchange.callers import Caller, SystemAuth
from zhengtong.identity.models import ApiClient, Department, User
from zhengtong.privacy.actions import consent as actions
from zhengtong.privacy.models import Consent, DataAgreement, Individual, Policy, Revision, Signature
from zhengtong.privacy.queries import consent as queries

log = structlog.get_logger("zhengtong.govstack_consent")

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
INDIVIDUAL_HEADER = "X-Individual-Id"
VIEW_AGREEMENTS, VIEW_CONSENTS = "privacy.view_dataagreement", "privacy.view_consent"

api = NinjaAPI(
    title="GovStack Consent",
    version="1.1.0",
    description="The GovStack Consent building block API over the platform's data agreements and consent. "
    "Systems authenticate with `Authorization: Bearer <key id>.<secret>` (or through a trusted Information "
    "Mediator); citizens and staff use their browser session. Service calls made for an individual name them "
    "in the X-Individual-Id header.",
    auth=[SystemAuth(), SessionAuth()],
    urls_namespace="govstack-consent",
    docs_url="/docs",
)

Actor = User | ApiClient


class NotFound(DomainError):
    """An id that names nothing: a bad input parameter, as the spec has it."""

    code = "not_found"
    status = 400

    def __init__(self, parameter: str, message: str):
        super().__init__(message, [FieldProblem(parameter, message)])


# --- errors ---------------------------------------------------------------------------------------------------


def _error(request: HttpRequest, status: int, code: str, message: str,
           details: Iterable[FieldProblem] = ()) -> HttpResponse:
    body = {"code": code, "message": message, "details": [{"field": d.field, "reason": d.reason} for d in details]}
    return api.create_response(request, body, status=status)


def _location(parts: list[Any]) -> str:
    # Ninja locations look like ["body", "body", "dataAgreement"] or ["query", "limit"].
    names = parts[2:] if parts[:1] == ["body"] else parts[1:]
    return ".".join(str(name) for name in names) or "body"


@api.exception_handler(ValidationError)
def _on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    details = [FieldProblem(_location(list(error.get("loc", []))), str(error.get("msg", ""))) for error in exc.errors]
    return _error(request, 400, "bad_request", "; ".join(f"{d.field}: {d.reason}" for d in details), details)


@api.exception_handler(DomainError)
def _on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    # The spec answers every refused request 400; only who may call stays apart (401, 403).
    status = exc.status if exc.status in (401, 403, 429) else 400
    return _error(request, status, exc.code, exc.message, exc.details)


@api.exception_handler(AuthenticationError)
def _on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "not_authenticated", _("Log in, or send an API client credential as a bearer "
                                                       "token."))


@api.exception_handler(Exception)
def _on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("govstack consent api error", path=request.path)
    return _error(request, 500, "server_error", _("Something went wrong on our side; quote request %(id)s when "
                                                  "reporting it.") % {"id": getattr(request, "request_id", "")})


@contextlib.contextmanager
def _fields_within(prefix: str) -> Iterator[None]:
    """Name the fields of an action's refusal as they sit in the request body (`dataAgreement.purpose`)."""
    try:
        yield
    except InvalidInput as error:
        details = [FieldProblem(d.field if d.field.startswith(f"{prefix}.") else f"{prefix}.{d.field}", d.reason)
                   for d in error.details]
        raise InvalidInput("; ".join(f"{d.field}: {d.reason}" for d in details), details) from None


# --- callers --------------------------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> Actor:
    auth: Any = request.auth  # type: ignore[attr-defined]
    return auth.client if isinstance(auth, Caller) else request.user  # type: ignore[return-value]


def _is_governance(actor: Actor) -> bool:
    return isinstance(actor, ApiClient) and actor.department.is_governance_office


def _citizen_of(actor: Actor) -> Any:
    return getattr(actor, "citizen", None) if isinstance(actor, User) else None


def _forbidden() -> NotPermitted:
    return NotPermitted(_("You do not have permission to do this."))


def _staff_may(actor: Actor, permission: str) -> bool:
    return isinstance(actor, User) and _citizen_of(actor) is None and actor.has_perm(permission)


def _visible_agreements(actor: Actor, *, config: bool) -> QuerySet[DataAgreement]:
    """Agreements the caller may read: all for the governance office and staff allowed to; a department's own
    for its systems; for a citizen (service reads only), those open to consent and those they answered."""
    every = queries.agreements()
    if _is_governance(actor) or _staff_may(actor, VIEW_AGREEMENTS):
        return every
    if isinstance(actor, ApiClient):
        return every.filter(consumer=actor.department)
    citizen = _citizen_of(actor)
    if citizen is not None and not config:
        return every.filter(pk__in=[item.agreement.pk for item in queries.citizen_agreements(citizen)])
    raise _forbidden()


def _visible_consents(actor: Actor) -> QuerySet[Consent]:
    consents = Consent.objects.select_related("agreement__resource", "agreement__consumer", "agreement_revision",
                                              "individual").order_by("pk")
    if _is_governance(actor) or _staff_may(actor, VIEW_CONSENTS):
        return consents
    if isinstance(actor, ApiClient):
        return consents.filter(agreement__consumer=actor.department)
    citizen = _citizen_of(actor)
    if citizen is not None:
        return consents.filter(individual__citizen=citizen)
    raise _forbidden()


def _require_auditor(actor: Actor) -> None:
    """The audit endpoints, and the lists of individuals: the governance office's systems and staff allowed."""
    if not (_is_governance(actor) or _staff_may(actor, VIEW_CONSENTS)):
        raise _forbidden()


def _individual(request: HttpRequest, individual_id: str | None, permission: str = actions.GIVE_FOR_OTHERS
                ) -> Individual:
    """Whom a service call acts for: a citizen themselves, or the individual named by a caller who may act for
    others."""
    actor = _actor(request)
    named = individual_id or request.headers.get(INDIVIDUAL_HEADER) or None
    citizen = _citizen_of(actor)
    if citizen is not None:
        own = actions.individual_for(citizen)
        if named is not None and named != own.public_id:
            raise NotPermitted(_("You can only act for yourself."))
        return own
    if named is None:
        raise_if_problems([FieldProblem("individualId", _("Name the individual in the X-Individual-Id header or "
                                                          "the individualId parameter."))])
    individual = Individual.objects.select_related("citizen").filter(public_id=named).first()
    if individual is None:
        raise NotFound("individualId", _("There is no individual with this id."))
    actions.require_act_for(actor, individual, permission)
    return individual


# --- shapes ---------------------------------------------------------------------------------------------------


def _revision(revision: Revision | None) -> dict[str, Any] | None:
    if revision is None:
        return None
    return {"id": revision.public_id, "schemaName": revision.schema_name, "objectId": revision.object_id,
            "signedWithoutObjectId": False, "serializedSnapshot": revision.serialized_snapshot,
            "serializedHash": revision.serialized_hash, "timestamp": revision.timestamp.isoformat(),
            "authorizedByIndividual": (revision.authorized_by_individual.public_id
                                       if revision.authorized_by_individual else None),
            "authorizedByOther": revision.authorized_by_other,
            "successor": revision.successor.public_id if revision.successor is not None else None,
            "predecessorHash": revision.predecessor_hash, "predecessorSignature": ""}


def _individual_data(individual: Individual) -> dict[str, Any]:
    return {"id": individual.public_id, "externalId": actions.masked_external_id(individual),
            "externalIdType": "resident_id", "identityProviderId": individual.identity_provider_id}


def _signature(signature: Signature) -> dict[str, Any]:
    return {"id": signature.public_id, "payload": signature.payload, "signature": signature.signature,
            "verificationMethod": signature.verification_method,
            "verificationPayload": signature.verification_payload,
            "verificationPayloadHash": signature.verification_payload_hash,
            "verificationArtifact": signature.verification_artifact,
            "verificationSignedBy": signature.verification_signed_by,
            "verificationSignedAs": signature.verification_signed_as,
            "verificationJwsHeader": signature.verification_jws_header,
            "timestamp": signature.timestamp.isoformat(), "signedWithoutObjectReference": False,
            "objectType": signature.object_type, "objectReference": signature.object_reference}


def _consent(consent: Consent) -> dict[str, Any]:
    data = actions.consent_data(consent)
    data["state"] = consent.state
    data["consentState"] = queries.state_of(consent.agreement, consent).value
    last = consent.signatures.order_by("-timestamp", "-pk").first()
    data["signature"] = _signature(last) if last is not None else None
    return data


def _agreement_revision(agreement: DataAgreement) -> dict[str, Any] | None:
    return _revision(actions.latest_revision("DataAgreement", agreement.public_id))


def _consent_revision(consent: Consent) -> dict[str, Any] | None:
    return _revision(actions.latest_revision("ConsentRecord", consent.public_id))


T = TypeVar("T")


def _page(items: QuerySet[Any] | Sequence[Any], offset: int, limit: int | None, shape: Callable[[Any], T]
          ) -> list[T]:
    problems = []
    if offset < 0:
        problems.append(FieldProblem("offset", _("Count from 0.")))
    size = DEFAULT_LIMIT if limit is None else limit
    if not 1 <= size <= MAX_LIMIT:
        problems.append(FieldProblem("limit", _("Ask for 1 to %(max)d items.") % {"max": MAX_LIMIT}))
    raise_if_problems(problems)
    return [shape(item) for item in items[offset:offset + size]]


# --- lookups --------------------------------------------------------------------------------------------------


def _agreement_in(agreements: QuerySet[DataAgreement], agreement_id: str,
                  parameter: str = "dataAgreementId") -> DataAgreement:
    agreement = agreements.filter(public_id=agreement_id).first()
    if agreement is None:
        raise NotFound(parameter, _("There is no data agreement with this id."))
    return agreement


def _policy(policy_id: str, *, live: bool = False) -> Policy:
    policies = Policy.objects.filter(public_id=policy_id)
    policy = (policies.filter(deleted_at__isnull=True) if live else policies).first()
    if policy is None:
        raise NotFound("policyId", _("There is no policy with this id."))
    return policy


def _consent_in(consents: QuerySet[Consent], consent_id: str) -> Consent:
    consent = consents.filter(public_id=consent_id).first()
    if consent is None:
        raise NotFound("consentRecordId", _("There is no consent record with this id."))
    return consent


def _revision_of(schema_name: str, object_id: str, revision_id: str | None) -> Revision | None:
    if not revision_id:
        return actions.latest_revision(schema_name, object_id)
    revision = Revision.objects.filter(schema_name=schema_name, object_id=object_id, public_id=revision_id).first()
    if revision is None:
        raise NotFound("revisionId", _("There is no revision with this id for this object."))
    return revision


# --- request bodies -------------------------------------------------------------------------------------------


class PolicyBody(Schema):
    policy: dict[str, Any]


class AgreementBody(Schema):
    dataAgreement: dict[str, Any]  # noqa: N815 (the spec's name)


class IndividualBody(Schema):
    individual: dict[str, Any]


class ConsentRecordBody(Schema):
    consentRecord: dict[str, Any]  # noqa: N815


class SignedConsentBody(Schema):
    consentRecord: dict[str, Any]  # noqa: N815
    signature: dict[str, Any]


class SignatureBody(Schema):
    signature: dict[str, Any]


def _text(data: dict[str, Any], name: str, problems: list[FieldProblem], prefix: str, *, required: bool = False
          ) -> str:
    value = data.get(name)
    if value is None:
        if required:
            problems.append(FieldProblem(f"{prefix}.{name}", _("This field is required.")))
        return ""
    if not isinstance(value, str):
        problems.append(FieldProblem(f"{prefix}.{name}", _("Give text.")))
        return ""
    return value


def _days(data: dict[str, Any], name: str, problems: list[FieldProblem], prefix: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(FieldProblem(f"{prefix}.{name}", _("Give a whole number of days.")))
        return None
    return value


def _flag(data: dict[str, Any], name: str, default: bool, problems: list[FieldProblem], prefix: str) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        problems.append(FieldProblem(f"{prefix}.{name}", _("Give true or false.")))
        return default
    return value


def _ref(value: Any) -> str:
    """An object given by id, or as an object with an `id`."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _policy_input(data: dict[str, Any]) -> actions.PolicyInput:
    problems: list[FieldProblem] = []
    p = "policy"
    values = actions.PolicyInput(
        name=_text(data, "name", problems, p, required=True), url=_text(data, "url", problems, p, required=True),
        jurisdiction=_text(data, "jurisdiction", problems, p),
        industry_sector=_text(data, "industrySector", problems, p),
        data_retention_days=_days(data, "dataRetentionPeriodDays", problems, p),
        geographic_restriction=_text(data, "geographicRestriction", problems, p),
        storage_location=_text(data, "storageLocation", problems, p))
    raise_if_problems(problems)
    return values


def _attribute_names(value: Any, problems: list[FieldProblem]) -> list[str]:
    if not isinstance(value, list):
        problems.append(FieldProblem("dataAgreement.dataAttributes", _("List the fields of the resource.")))
        return []
    names = [item.get("name") if isinstance(item, dict) else item for item in value]
    if not all(isinstance(name, str) and name for name in names):
        problems.append(FieldProblem("dataAgreement.dataAttributes", _("Each attribute names a field.")))
        return []
    return [str(name) for name in names]


def _agreement_input(data: dict[str, Any], current: DataAgreement | None = None) -> actions.AgreementInput:
    problems: list[FieldProblem] = []
    p = "dataAgreement"
    resource_code = _ref(data.get("resource")) or (current.resource.code or "" if current else "")
    resource = Resource.objects.filter(code=resource_code).first() if resource_code else None
    if resource is None:
        problems.append(FieldProblem(f"{p}.resource", _("Give the code of a resource in the catalog.")))
    consumer_code = _ref(data.get("controller")) or (current.consumer.code if current else "")
    consumer = Department.objects.filter(code=consumer_code).first() if consumer_code else None
    if consumer is None:
        problems.append(FieldProblem(f"{p}.controller", _("Give the code of the consumer department as its id.")))
    policy = None
    if data.get("policy"):
        policy = Policy.objects.filter(public_id=_ref(data["policy"]), deleted_at__isnull=True).first()
        if policy is None:
            problems.append(FieldProblem(f"{p}.policy", _("There is no policy with this id.")))
    purpose = _text(data, "purpose", problems, p, required=True)
    lawful_basis = _text(data, "lawfulBasis", problems, p, required=True)
    names = _attribute_names(data.get("dataAttributes"), problems)
    consent_days = _days(data, "consentPeriodDays", problems, p)
    retention_days = _days(data, "dataRetentionPeriodDays", problems, p)
    forgettable = _flag(data, "forgettable", False, problems, p)
    active = _flag(data, "active", True, problems, p)
    texts = {name: _text(data, name, problems, p) for name in ("purposeDescription", "dpia", "dataUse")}
    raise_if_problems(problems)
    assert resource is not None and consumer is not None
    return actions.AgreementInput(
        resource=resource, consumer=consumer, purpose=purpose, data_elements=names, lawful_basis=lawful_basis,
        purpose_description=texts["purposeDescription"], consent_days=consent_days, retention_days=retention_days,
        policy=policy, dpia=texts["dpia"], data_use=texts["dataUse"], forgettable=forgettable, active=active)


def _signature_input(data: dict[str, Any]) -> actions.SignatureInput:
    problems: list[FieldProblem] = []
    p = "signature"
    values = actions.SignatureInput(
        signature=_text(data, "signature", problems, p, required=True),
        verification_method=_text(data, "verificationMethod", problems, p, required=True),
        verification_signed_by=_text(data, "verificationSignedBy", problems, p, required=True),
        verification_signed_as=_text(data, "verificationSignedAs", problems, p),
        verification_artifact=_text(data, "verificationArtifact", problems, p),
        verification_jws_header=_text(data, "verificationJwsHeader", problems, p))
    if values.verification_signed_as not in ("", "individual", "delegate"):
        problems.append(FieldProblem("signature.verificationSignedAs", _("Give individual or delegate.")))
    if values.verification_method.startswith("zhengtong-platform"):
        problems.append(FieldProblem("signature.verificationMethod", _("This method is the platform's own.")))
    raise_if_problems(problems)
    return values


# --- config: policies -----------------------------------------------------------------------------------------


def _config_reader(request: HttpRequest) -> Actor:
    actor = _actor(request)
    if not (isinstance(actor, ApiClient) or _staff_may(actor, VIEW_AGREEMENTS)):
        raise _forbidden()
    return actor


@api.post("/config/policy/", tags=["config"], operation_id="configPolicyCreate")
def config_policy_create(request: HttpRequest, body: PolicyBody) -> dict[str, Any]:
    with _fields_within("policy"):
        policy, revision = actions.create_policy(_actor(request), _policy_input(body.policy))
    return {"policy": actions.policy_data(policy), "revision": _revision(revision)}


@api.get("/config/policy/{policyId}/", tags=["config"], operation_id="configPolicyRead")
def config_policy_read(request: HttpRequest, policyId: str, revisionId: str | None = None  # noqa: N803
                       ) -> dict[str, Any]:
    _config_reader(request)
    return _policy_at(_policy(policyId), revisionId)


def _policy_at(policy: Policy, revision_id: str | None) -> dict[str, Any]:
    revision = _revision_of("Policy", policy.public_id, revision_id)
    data = json.loads(revision.serialized_snapshot)["objectData"] if revision_id and revision else \
        actions.policy_data(policy)
    return {"policy": data, "revision": _revision(revision)}


@api.put("/config/policy/{policyId}/", tags=["config"], operation_id="configPolicyUpdate")
def config_policy_update(request: HttpRequest, policyId: str, body: PolicyBody) -> dict[str, Any]:  # noqa: N803
    actor = _actor(request)
    actions.require_configure(actor)
    with _fields_within("policy"):
        policy, revision = actions.update_policy(actor, _policy(policyId, live=True), _policy_input(body.policy))
    return {"policy": actions.policy_data(policy), "revision": _revision(revision)}


@api.delete("/config/policy/{policyId}/", tags=["config"], operation_id="configPolicyDelete")
def config_policy_delete(request: HttpRequest, policyId: str) -> dict[str, Any]:  # noqa: N803
    actor = _actor(request)
    actions.require_configure(actor)
    return {"revision": _revision(actions.delete_policy(actor, _policy(policyId, live=True)))}


@api.get("/config/policy/{policyId}/revisions/", tags=["config"], operation_id="configPolicyRevisionsList")
def config_policy_revisions(request: HttpRequest, policyId: str, offset: int = 0,  # noqa: N803
                            limit: int | None = None) -> dict[str, Any]:
    _config_reader(request)
    policy = _policy(policyId)
    revisions = Revision.objects.filter(schema_name="Policy", object_id=policy.public_id).order_by("timestamp", "pk")
    return {"policy": actions.policy_data(policy), "revisions": _page(revisions, offset, limit, _revision)}


@api.get("/config/policies/", tags=["config"], operation_id="configPolicyList")
def config_policy_list(request: HttpRequest, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    _config_reader(request)
    policies = Policy.objects.filter(deleted_at__isnull=True).order_by("name", "pk")
    return {"policies": _page(policies, offset, limit, actions.policy_data)}


# --- config: data agreements ----------------------------------------------------------------------------------


def _agreement_with_revision(agreement: DataAgreement, revision: Revision | None = None) -> dict[str, Any]:
    return {"dataAgreement": actions.agreement_data(agreement),
            "revision": _revision(revision) if revision is not None else _agreement_revision(agreement)}


@api.get("/config/data-agreement/{dataAgreementId}/", tags=["config"], operation_id="configDataAgreementRead")
def config_agreement_read(request: HttpRequest, dataAgreementId: str) -> dict[str, Any]:  # noqa: N803
    agreement = _agreement_in(_visible_agreements(_config_reader(request), config=True), dataAgreementId)
    return _agreement_with_revision(agreement)


@api.put("/config/data-agreement/{dataAgreementId}/", tags=["config"], operation_id="configDataAgreementUpdate")
def config_agreement_update(request: HttpRequest, dataAgreementId: str,  # noqa: N803
                            body: AgreementBody) -> dict[str, Any]:
    actor = _actor(request)
    actions.require_configure(actor)
    agreement = _agreement_in(queries.agreements().filter(deleted_at__isnull=True), dataAgreementId)
    with _fields_within("dataAgreement"):
        revised, revision = actions.revise_agreement(actor, agreement,
                                                     _agreement_input(body.dataAgreement, agreement))
    return _agreement_with_revision(revised, revision)


@api.delete("/config/data-agreement/{dataAgreementId}/", tags=["config"], operation_id="configDataAgreementDelete")
def config_agreement_delete(request: HttpRequest, dataAgreementId: str) -> dict[str, Any]:  # noqa: N803
    actor = _actor(request)
    actions.require_configure(actor)
    agreement = _agreement_in(queries.agreements().filter(deleted_at__isnull=True), dataAgreementId)
    return {"revision": _revision(actions.retire_agreement(actor, agreement))}


@api.post("/config/data-agreement/", tags=["config"], operation_id="configDataAgreementCreate")
def config_agreement_create(request: HttpRequest, body: AgreementBody) -> dict[str, Any]:
    actor = _actor(request)
    actions.require_configure(actor)
    with _fields_within("dataAgreement"):
        agreement, revision = actions.publish_agreement(actor, _agreement_input(body.dataAgreement))
    return _agreement_with_revision(agreement, revision)


@api.get("/config/data-agreements/", tags=["config"], operation_id="configDataAgreementList")
def config_agreement_list(request: HttpRequest, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    agreements = _visible_agreements(_config_reader(request), config=True).filter(deleted_at__isnull=True)
    return {"dataAgreement": _page(agreements, offset, limit, actions.agreement_data)}


# --- config: individuals --------------------------------------------------------------------------------------


def _register(request: HttpRequest, data: dict[str, Any]) -> Individual:
    problems: list[FieldProblem] = []
    external_id = _text(data, "externalId", problems, "individual", required=True)
    kind = _text(data, "externalIdType", problems, "individual")
    if kind not in ("", "resident_id"):
        problems.append(FieldProblem("individual.externalIdType", _("Individuals are known by resident_id.")))
    provider = _text(data, "identityProviderId", problems, "individual")
    raise_if_problems(problems)
    with _fields_within("individual"):
        return actions.register_individual(_actor(request), resident_id=external_id, identity_provider_id=provider)


@api.post("/config/individual/", tags=["config"], operation_id="configIndividualCreate")
def config_individual_create(request: HttpRequest, body: IndividualBody) -> dict[str, Any]:
    actions.require_configure(_actor(request))
    return {"individual": _individual_data(_register(request, body.individual))}


@api.get("/config/individual/{individualId}/", tags=["config"], operation_id="configIndividualRead")
def config_individual_read(request: HttpRequest, individualId: str) -> dict[str, Any]:  # noqa: N803
    _require_auditor(_actor(request))
    individual = Individual.objects.select_related("citizen").filter(public_id=individualId).first()
    if individual is None:
        raise NotFound("individualId", _("There is no individual with this id."))
    return {"individual": _individual_data(individual)}


@api.get("/config/individuals/", tags=["config"], operation_id="configIndividualList")
def config_individual_list(request: HttpRequest, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    _require_auditor(_actor(request))
    individuals = Individual.objects.select_related("citizen").order_by("pk")
    return {"individuals": _page(individuals, offset, limit, _individual_data)}


# --- config: webhooks (not offered yet) -----------------------------------------------------------------------


def _no_webhooks(request: HttpRequest) -> HttpResponse:
    _config_reader(request)
    return _error(request, 501, "not_implemented", _("Webhooks are not offered yet: poll the audit endpoints for "
                                                     "changes of consent."))


@api.post("/config/webhook/", tags=["config"], operation_id="configWebhookCreate")
def config_webhook_create(request: HttpRequest) -> HttpResponse:
    return _no_webhooks(request)


@api.get("/config/webhook/{webhookId}/", tags=["config"], operation_id="configWebhookRead")
def config_webhook_read(request: HttpRequest, webhookId: str) -> HttpResponse:  # noqa: N803
    return _no_webhooks(request)


@api.put("/config/webhook/{webhookId}/", tags=["config"], operation_id="configWebhookUpdate")
def config_webhook_update(request: HttpRequest, webhookId: str) -> HttpResponse:  # noqa: N803
    return _no_webhooks(request)


@api.delete("/config/webhook/{webhookId}/", tags=["config"], operation_id="configWebhookDelete")
def config_webhook_delete(request: HttpRequest, webhookId: str) -> HttpResponse:  # noqa: N803
    return _no_webhooks(request)


@api.get("/config/webhooks/", tags=["config"], operation_id="configWebhookList")
def config_webhook_list(request: HttpRequest) -> HttpResponse:
    return _no_webhooks(request)


# --- service: individuals -------------------------------------------------------------------------------------


@api.post("/service/individual/", tags=["service"], operation_id="serviceIndividualCreate")
def service_individual_create(request: HttpRequest, body: IndividualBody) -> dict[str, Any]:
    citizen = _citizen_of(_actor(request))
    if citizen is None:
        actions.require_configure(_actor(request))
        return {"individual": _individual_data(_register(request, body.individual))}
    given = body.individual.get("externalId")
    if given is not None and str(given).strip().upper() != citizen.resident_id.upper():
        raise NotPermitted(_("You can only act for yourself."))
    return {"individual": _individual_data(actions.individual_for(citizen))}


# Before the routes of /service/individual/{individualId}/, which would take "record" for an id.
@api.delete("/service/individual/record/", tags=["service"], operation_id="serviceIndividualConsentRecordDeleteAll")
def service_consent_forget(request: HttpRequest, individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    individual = _individual(request, individualId, actions.WITHDRAW_FOR_OTHERS)
    return {"deleted": actions.forget_consents(_actor(request), individual)}


@api.get("/service/individual/{individualId}/", tags=["service"], operation_id="serviceIndividualRead")
def service_individual_read(request: HttpRequest, individualId: str) -> dict[str, Any]:  # noqa: N803
    return {"individual": _individual_data(_individual(request, individualId))}


@api.put("/service/individual/{individualId}/", tags=["service"], operation_id="serviceIndividualUpdate")
def service_individual_update(request: HttpRequest, individualId: str,  # noqa: N803
                              body: IndividualBody) -> dict[str, Any]:
    """Only `identityProviderId` changes: the resident ID is who the individual is."""
    individual = _individual(request, individualId)
    problems: list[FieldProblem] = []
    given = body.individual.get("externalId")
    if given is not None and str(given).strip().upper() != individual.citizen.resident_id.upper() and \
            given != actions.masked_external_id(individual):
        problems.append(FieldProblem("individual.externalId", _("The resident ID of an individual never changes.")))
    provider = _text(body.individual, "identityProviderId", problems, "individual")
    raise_if_problems(problems)
    updated = actions.set_identity_provider(_actor(request), individual, provider)
    return {"individual": _individual_data(updated)}


@api.get("/service/individuals/", tags=["service"], operation_id="serviceIndividualList")
def service_individual_list(request: HttpRequest, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    actor = _actor(request)
    citizen = _citizen_of(actor)
    if citizen is not None:
        return {"individuals": _page([actions.individual_for(citizen)], offset, limit, _individual_data)}
    _require_auditor(actor)
    individuals = Individual.objects.select_related("citizen").order_by("pk")
    return {"individuals": _page(individuals, offset, limit, _individual_data)}


# --- service: agreements, policies, verification --------------------------------------------------------------


@api.get("/service/data-agreement/{dataAgreementId}/", tags=["service"], operation_id="serviceDataAgreementRead")
def service_agreement_read(request: HttpRequest, dataAgreementId: str) -> dict[str, Any]:  # noqa: N803
    agreement = _agreement_in(_visible_agreements(_actor(request), config=False), dataAgreementId)
    return _agreement_with_revision(agreement)


@api.get("/service/policy/{policyId}/", tags=["service"], operation_id="servicePolicyRead")
def service_policy_read(request: HttpRequest, policyId: str, revisionId: str | None = None  # noqa: N803
                        ) -> dict[str, Any]:
    return _policy_at(_policy(policyId), revisionId)


@api.get("/service/verification/data-agreements/", tags=["service"],
         operation_id="serviceVerificationDataAgreementList")
def service_verification_agreements(request: HttpRequest, offset: int = 0, limit: int | None = None
                                    ) -> dict[str, Any]:
    agreements = _visible_agreements(_actor(request), config=False).filter(deleted_at__isnull=True)
    return {"dataAgreements": _page(agreements, offset, limit, actions.agreement_data)}


def _current(consents: QuerySet[Consent]) -> QuerySet[Consent]:
    """The latest record of each individual for each agreement (the one that says where they stand), chosen
    by the database so that a page of them is read, not every record."""
    latest = (Consent.objects.filter(agreement=OuterRef("agreement"), individual=OuterRef("individual"))
              .order_by("-agreement_version", "-updated_at", "-pk").values("pk")[:1])
    return consents.filter(pk=Subquery(latest)).order_by("pk")


@api.get("/service/verification/consent-records/", tags=["service"],
         operation_id="serviceVerificationConsentRecordList")
def service_verification_consents(request: HttpRequest, offset: int = 0, limit: int | None = None,
                                  dataAgreementId: str | None = None,  # noqa: N803
                                  individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    """The current consent record of each individual for each agreement the caller may see; narrowed by
    `dataAgreementId` and `individualId` to ask whether one individual's consent exists."""
    consents = _visible_consents(_actor(request))
    if dataAgreementId:
        consents = consents.filter(agreement__public_id=dataAgreementId)
    if individualId:
        consents = consents.filter(individual__public_id=individualId)
    return {"consentRecords": _page(_current(consents), offset, limit, _consent)}


@api.get("/service/verification/consent-record/{consentRecordId}/", tags=["service"],
         operation_id="serviceVerificationConsentRecordRead")
def service_verification_consent(request: HttpRequest, consentRecordId: str) -> dict[str, Any]:  # noqa: N803
    consent = _consent_in(_visible_consents(_actor(request)), consentRecordId)
    return {"consentRecord": _consent(consent), "revision": _consent_revision(consent)}


# --- service: an individual's consent records -----------------------------------------------------------------


def _signing_as(request: HttpRequest) -> str:
    """How a signature made for this call signs: as the individual in a citizen's own session, else as their
    delegate."""
    return "individual" if _citizen_of(_actor(request)) is not None else "delegate"


def _consentable(agreement_id: str, parameter: str = "dataAgreementId") -> DataAgreement:
    return _agreement_in(DataAgreement.objects.select_related("resource", "consumer"), agreement_id, parameter)


def _check_current_revision(agreement: DataAgreement, revision_id: str | None) -> None:
    if revision_id and revision_id != getattr(actions.latest_revision("DataAgreement", agreement.public_id),
                                              "public_id", None):
        raise_if_problems([FieldProblem("revisionId", _("Consent is given to the agreement's current revision "
                                                        "only."))])


@api.post("/service/individual/record/data-agreement/{dataAgreementId}/", tags=["service"],
          operation_id="serviceIndividualConsentRecordCreate")
def service_consent_create(request: HttpRequest, dataAgreementId: str,  # noqa: N803
                           individualId: str | None = None,  # noqa: N803
                           revisionId: str | None = None) -> dict[str, Any]:  # noqa: N803
    individual = _individual(request, individualId)
    agreement = _consentable(dataAgreementId)
    _check_current_revision(agreement, revisionId)
    consent = actions.give_consent(_actor(request), agreement, individual)
    return {"consentRecord": _consent(consent), "revision": _consent_revision(consent)}


@api.get("/service/individual/record/data-agreement/{dataAgreementId}/", tags=["service"],
         operation_id="serviceIndividualConsentRecordRead")
def service_consent_read(request: HttpRequest, dataAgreementId: str,  # noqa: N803
                         individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    individual = _individual(request, individualId)
    agreement = _consentable(dataAgreementId)
    consent = queries.latest_consents(individual).get(agreement.pk)
    if consent is None:
        raise NotFound("dataAgreementId", _("The individual has not answered this agreement."))
    return {"consentRecord": _consent(consent)}


@api.post("/service/individual/record/consent-record/draft/", tags=["service"],
          operation_id="serviceIndividualConsentRecordDraftCreate")
def service_consent_draft(request: HttpRequest, dataAgreementId: str, individualId: str | None = None,  # noqa: N803
                          revisionId: str | None = None) -> dict[str, Any]:  # noqa: N803
    """A consent record and a signature to fill in, stored nowhere: the payload is the agreement revision the
    individual is asked to consent to."""
    individual = _individual(request, individualId)
    agreement = _consentable(dataAgreementId)
    _check_current_revision(agreement, revisionId)
    revision = actions.latest_revision("DataAgreement", agreement.public_id)
    assert revision is not None
    return {
        "consentRecord": {"id": None, "dataAgreement": agreement.public_id, "dataAgreementVersion":
                          str(agreement.version), "dataAgreementRevision": revision.public_id,
                          "dataAgreementRevisionHash": revision.serialized_hash,
                          "individual": individual.public_id, "optIn": True, "state": "unsigned"},
        "signature": {"id": None, "payload": revision.serialized_snapshot, "signature": "",
                      "verificationMethod": "", "verificationPayload": revision.serialized_snapshot,
                      "verificationPayloadHash": revision.serialized_hash, "verificationSignedBy": "",
                      "verificationSignedAs": _signing_as(request), "timestamp": "",
                      "signedWithoutObjectReference": True,
                      "objectType": "revision", "objectReference": revision.public_id},
    }


@api.post("/service/individual/record/consent-record/", tags=["service"],
          operation_id="serviceIndividualConsentRecordSignatureCreate")
def service_consent_signed_create(request: HttpRequest, body: SignedConsentBody) -> dict[str, Any]:
    record = body.consentRecord
    problems: list[FieldProblem] = []
    agreement_id = _ref(record.get("dataAgreement"))
    if not agreement_id:
        problems.append(FieldProblem("consentRecord.dataAgreement", _("Name the data agreement.")))
    if record.get("optIn", True) is not True:
        problems.append(FieldProblem("consentRecord.optIn", _("A consent record is made by opting in; withdraw "
                                                              "to say no.")))
    raise_if_problems(problems)
    signature = _signature_input(body.signature)
    individual = _individual(request, _ref(record.get("individual")) or None)
    agreement = _consentable(agreement_id, "consentRecord.dataAgreement")
    _check_current_revision(agreement, _ref(record.get("dataAgreementRevision")) or None)
    consent = actions.give_consent(_actor(request), agreement, individual, signature=signature)
    last = consent.signatures.order_by("-timestamp", "-pk").first()
    return {"consentRecord": _consent(consent), "revision": _consent_revision(consent),
            "signature": _signature(last) if last is not None else None}


@api.get("/service/individual/record/consent-record/", tags=["service"],
         operation_id="serviceIndividualConsentRecordList")
def service_consent_list(request: HttpRequest, offset: int = 0, limit: int | None = None,
                         individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    individual = _individual(request, individualId)
    current = sorted(queries.latest_consents(individual).values(), key=lambda c: c.pk)
    return {"consentRecords": _page(current, offset, limit, _consent)}


def _own_consent(request: HttpRequest, consent_id: str, individual_id: str | None, permission: str) -> Consent:
    individual = _individual(request, individual_id, permission)
    return _consent_in(Consent.objects.select_related("agreement", "individual__citizen", "agreement_revision")
                       .filter(individual=individual), consent_id)


@api.put("/service/individual/record/consent-record/{consentRecordId}/", tags=["service"],
         operation_id="serviceIndividualConsentRecordUpdate")
def service_consent_update(request: HttpRequest, consentRecordId: str, body: ConsentRecordBody,  # noqa: N803
                           individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    opt_in = body.consentRecord.get("optIn")
    if not isinstance(opt_in, bool):
        raise_if_problems([FieldProblem("consentRecord.optIn", _("Give true to consent or false to withdraw."))])
    unknown = sorted(set(body.consentRecord) - {"optIn", "id", "dataAgreement", "individual", "state",
                                                 "dataAgreementRevision", "dataAgreementRevisionHash"})
    if unknown:
        raise_if_problems([FieldProblem(f"consentRecord.{unknown[0]}", _("Only optIn can change."))])
    permission = actions.GIVE_FOR_OTHERS if opt_in else actions.WITHDRAW_FOR_OTHERS
    consent = _own_consent(request, consentRecordId, individualId, permission)
    actor = _actor(request)
    if opt_in:
        changed = actions.give_consent(actor, consent.agreement, consent.individual)
    else:
        changed = actions.withdraw_consent(actor, consent.agreement, consent.individual)
        changed = Consent.objects.get(pk=consent.pk)
    return {"consentRecord": _consent(changed), "revision": _consent_revision(changed)}


@api.post("/service/individual/record/consent-record/{consentRecordId}/signature/", tags=["service"],
          operation_id="serviceIndividualSignatureCreate")
def service_signature_create(request: HttpRequest, consentRecordId: str, body: SignatureBody,  # noqa: N803
                             individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    """A signature ready for signing the consent's latest revision; nothing is stored until it is signed."""
    consent = _own_consent(request, consentRecordId, individualId, actions.GIVE_FOR_OTHERS)
    revision = actions.latest_revision("ConsentRecord", consent.public_id)
    assert revision is not None
    return {"signature": {
        "id": None, "payload": revision.serialized_snapshot, "signature": "",
        "verificationMethod": _text(body.signature, "verificationMethod", [], "signature"),
        "verificationPayload": revision.serialized_snapshot, "verificationPayloadHash": revision.serialized_hash,
        "verificationSignedBy": _text(body.signature, "verificationSignedBy", [], "signature"),
        "verificationSignedAs": _signing_as(request), "timestamp": "", "signedWithoutObjectReference": False,
        "objectType": "revision", "objectReference": revision.public_id}}


@api.put("/service/individual/record/consent-record/{consentRecordId}/signature/", tags=["service"],
         operation_id="serviceIndividualSignatureUpdate")
def service_signature_update(request: HttpRequest, consentRecordId: str, body: SignatureBody,  # noqa: N803
                             individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    consent = _own_consent(request, consentRecordId, individualId, actions.GIVE_FOR_OTHERS)
    signature = actions.sign_consent(_actor(request), consent, _signature_input(body.signature))
    return {"signature": _signature(signature)}


@api.get("/service/individual/record/data-agreement/{dataAgreementId}/all/", tags=["service"],
         operation_id="serviceIndividualDataAgreementConsentRecordList")
def service_consent_all(request: HttpRequest, dataAgreementId: str, offset: int = 0,  # noqa: N803
                        limit: int | None = None, individualId: str | None = None) -> dict[str, Any]:  # noqa: N803
    individual = _individual(request, individualId)
    agreement = _consentable(dataAgreementId)
    consents = Consent.objects.filter(individual=individual, agreement=agreement).order_by("agreement_version", "pk")
    return {"consentRecords": _page(consents, offset, limit, _consent)}


# --- audit ----------------------------------------------------------------------------------------------------


@api.get("/audit/consent-records/", tags=["auditor"], operation_id="auditConsentRecordList")
def audit_consent_list(request: HttpRequest, offset: int = 0, limit: int | None = None,
                       dataAgreementId: str | None = None) -> dict[str, Any]:  # noqa: N803
    _require_auditor(_actor(request))
    consents = _visible_consents(_actor(request))
    if dataAgreementId:
        consents = consents.filter(agreement__public_id=dataAgreementId)
    return {"consentRecords": _page(consents, offset, limit, _consent)}


@api.get("/audit/consent-record/{consentRecordId}/", tags=["auditor"], operation_id="auditConsentRecordRead")
def audit_consent_read(request: HttpRequest, consentRecordId: str) -> dict[str, Any]:  # noqa: N803
    _require_auditor(_actor(request))
    consent = _consent_in(_visible_consents(_actor(request)), consentRecordId)
    revisions = Revision.objects.filter(schema_name="ConsentRecord", object_id=consent.public_id)
    return {"consentRecord": _consent(consent), "revisions": [_revision(r) for r in revisions],
            "signatures": [_signature(s) for s in consent.signatures.all()]}


@api.get("/audit/data-agreements/", tags=["auditor"], operation_id="auditDataAgreementList")
def audit_agreement_list(request: HttpRequest, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    _require_auditor(_actor(request))
    return {"dataAgreements": _page(queries.agreements(), offset, limit, actions.agreement_data)}


@api.get("/audit/data-agreement/{dataAgreementId}/", tags=["auditor"], operation_id="auditDataAgreementRead")
def audit_agreement_read(request: HttpRequest, dataAgreementId: str) -> dict[str, Any]:  # noqa: N803
    _require_auditor(_actor(request))
    agreement = _agreement_in(queries.agreements(), dataAgreementId)
    return {"dataAgreement": actions.agreement_data(agreement),
            "revisions": [_revision(r) for r in queries.agreement_revisions(agreement)],
            "consentCounts": queries.consent_counts(agreement)}

