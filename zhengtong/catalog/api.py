"""Catalog endpoints: search the catalog, read a resource with its items, grade, rights and lineage; describe
and publish API resources; register data rights, read and verify certificates; raise and settle disputes.

Department systems (API clients) may read what is published; every change is made by a person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from zhengtong.catalog import actions, certificates, queries
from zhengtong.catalog.models import (
    DataItem,
    Resource,
    RightsCertificate,
    RightsDispute,
    RightsRegistration,
)
from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.identity.models import Department, User
from zhengtong.registries.models import Grade, Level, Sensitivity

router = Router(tags=["catalog"])

MAX_PAGE_SIZE = 100


def _person(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Only staff can change the catalog; API clients read it."))
    return user


def _reader(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- shapes ---------------------------------------------------------------------------------------------------


class DepartmentRef(Schema):
    code: str
    name: str


class ResourceRef(Schema):
    id: int
    code: str | None
    name: str


class ItemOut(Schema):
    name: str
    label: str
    label_en: str
    description: str
    type: str
    sensitivity: str
    grade: int
    level: int
    masking: str
    encrypted: bool


class ServiceOut(Schema):
    endpoint_url: str
    http_method: str
    service_description: str


class ResourceSummaryOut(Schema):
    id: int
    code: str | None
    name: str
    provider: DepartmentRef
    kind: str
    format: str
    status: str
    sharing_type: str
    opening_type: str
    update_cycle: str
    grade: int
    level: int
    published_on: dt.date | None


class PartyOut(Schema):
    name: str
    credit_code: str
    department: str | None = Field(description="The department's code, when the party is a department.")


class HolderOut(PartyOut):
    right: str = Field(description="processing (数据加工使用权) or operation (数据产品经营权).")


class VerificationOut(Schema):
    version: int
    valid: bool
    signature_valid: bool
    key_trusted: bool
    matches_registration: bool
    superseded: bool
    problems: list[str]


class CertificateOut(Schema):
    version: int
    issued_at: dt.datetime
    superseded_at: dt.datetime | None
    algorithm: str
    key_id: str
    public_key: str = Field(description="Raw public key, hex (Ed25519 32 bytes, SM2 64 bytes x||y).")
    signature: str = Field(description="Raw signature, hex (64 bytes).")
    payload: str = Field(description="The canonical JSON that was signed, byte for byte as UTF-8.")
    verification: VerificationOut


class DisputeOut(Schema):
    id: int
    reason: str
    raised_at: dt.datetime
    raised_by: str
    settled_at: dt.datetime | None
    settled_by: str
    settlement: str


class RegistrationOut(Schema):
    number: str
    resource: ResourceRef
    holder: PartyOut = Field(description="The holder of the data resource (数据资源持有权).")
    right_holders: list[HolderOut]
    source_system: str
    collection_legal_basis: str
    provenance_note: str
    registered_at: dt.datetime
    version: int
    disputed: bool
    disputes: list[DisputeOut]
    certificate: VerificationOut | None


class ResourceOut(ResourceSummaryOut):
    item_code: str
    category_code: str
    subcategory_code: str
    summary: str
    sharing_condition: str
    legal_basis: str
    opening_condition: str
    registry: str | None
    service: ServiceOut | None
    items: list[ItemOut]
    sources: list[ResourceRef]
    derived: list[ResourceRef]
    related: list[ResourceRef]
    rights: list[RegistrationOut] | None = Field(
        description="Rights registrations; null when the caller may not see registrations.")


class ResourcePage(Schema):
    count: int
    page: int
    page_size: int
    results: list[ResourceSummaryOut]


def _ref(resource: Resource) -> ResourceRef:
    return ResourceRef(id=resource.pk, code=resource.code, name=resource.name)


def _summary_values(resource: Resource) -> dict[str, Any]:
    return {
        "id": resource.pk, "code": resource.code, "name": resource.name,
        "provider": DepartmentRef(code=resource.provider.code, name=resource.provider.name),
        "kind": resource.kind, "format": resource.format, "status": resource.status,
        "sharing_type": resource.sharing_type, "opening_type": resource.opening_type,
        "update_cycle": resource.update_cycle, "grade": resource.grade, "level": resource.level,
        "published_on": resource.published_on,
    }


def _item(item: DataItem) -> ItemOut:
    return ItemOut(name=item.name, label=item.label, label_en=item.label_en, description=item.description,
                   type=item.type, sensitivity=item.sensitivity, grade=item.grade, level=item.level,
                   masking=item.masking, encrypted=item.encrypted)


def _verification(result: certificates.Verification) -> VerificationOut:
    return VerificationOut(version=result.certificate.version, valid=result.valid,
                           signature_valid=result.signature_valid, key_trusted=result.key_trusted,
                           matches_registration=result.matches_registration, superseded=result.superseded,
                           problems=list(result.problems))


def _dispute(dispute: RightsDispute) -> DisputeOut:
    return DisputeOut(id=dispute.pk, reason=dispute.reason, raised_at=dispute.raised_at,
                      raised_by=dispute.raised_by_name, settled_at=dispute.settled_at,
                      settled_by=dispute.settled_by_name, settlement=dispute.settlement)


def _registration(registration: RightsRegistration) -> RegistrationOut:
    current = registration.current_certificate
    return RegistrationOut(
        number=registration.number,
        resource=ResourceRef(id=registration.resource_id, code=registration.resource_code,
                             name=registration.resource_name),
        holder=PartyOut(name=registration.holder_name, credit_code=registration.holder_credit_code,
                        department=registration.holder.code),
        right_holders=[HolderOut(right=h.right, name=h.name, credit_code=h.credit_code,
                                 department=h.department.code if h.department else None)
                       for h in registration.right_holders.all()],
        source_system=registration.source_system, collection_legal_basis=registration.collection_legal_basis,
        provenance_note=registration.provenance_note, registered_at=registration.registered_at,
        version=registration.version, disputed=registration.open_dispute is not None,
        disputes=[_dispute(d) for d in registration.disputes.all()],
        certificate=_verification(certificates.verify(current)) if current is not None else None,
    )


def _resource(request: HttpRequest, resource: Resource) -> ResourceOut:
    reader = _reader(request)
    items = resource.items.all()
    service = None
    if resource.is_api:
        service = ServiceOut(endpoint_url=resource.endpoint_url, http_method=resource.http_method,
                             service_description=resource.service_description)
    visible = queries.visible_resources(reader)
    rights = None
    if queries.may_view_rights(reader):
        rights = [_registration(r) for r in queries.visible_registrations(reader).filter(resource=resource)]
    return ResourceOut(
        **_summary_values(resource), item_code=resource.item_code, category_code=resource.category_code,
        subcategory_code=resource.subcategory_code, summary=resource.summary,
        sharing_condition=resource.sharing_condition, legal_basis=resource.legal_basis,
        opening_condition=resource.opening_condition,
        registry=resource.registry.code if resource.registry else None, service=service,
        items=[_item(item) for item in items],
        sources=[_ref(r) for r in visible.filter(derived=resource)],
        derived=[_ref(r) for r in visible.filter(sources=resource)],
        related=[_ref(r) for r in visible.filter(related=resource)],
        rights=rights,
    )


def _visible_resource(request: HttpRequest, resource_id: int) -> Resource:
    return get_object_or_404(queries.visible_resources(_reader(request)), pk=resource_id)


def _visible_registration(request: HttpRequest, number: str) -> RightsRegistration:
    return get_object_or_404(queries.visible_registrations(_reader(request)), number=number)


# --- inputs ---------------------------------------------------------------------------------------------------


class ItemIn(Schema):
    name: str
    label: str
    type: str
    label_en: str = ""
    description: str = ""
    sensitivity: str = Sensitivity.INTERNAL
    grade: int = Grade.GENERAL
    level: int = Level.L2
    masking: str = ""


class MetadataIn(Schema):
    name: str
    summary: str
    kind: str
    item_code: str = Field(description="项: two digits.")
    category_code: str = Field(description="目: three digits.")
    subcategory_code: str = Field("", description="细目: up to 18 digits or capital letters, may be empty.")
    update_cycle: str
    sharing_type: str
    opening_type: str
    format: str = ""
    sharing_condition: str = ""
    legal_basis: str = Field("", description="Required when sharing_type is conditional or none.")
    opening_condition: str = ""
    related: list[int] = []
    sources: list[int] = Field([], description="Ids of the resources this one is derived from.")
    state_secret: bool = Field(False, description="True is refused: state secrets do not belong in this catalog.")


class ServiceIn(Schema):
    endpoint_url: str
    http_method: str
    service_description: str
    items: list[ItemIn]


class ApiResourceIn(MetadataIn):
    provider: str = Field(description="Code of the department that provides the API.")
    service: ServiceIn


class ResourceUpdateIn(MetadataIn):
    service: ServiceIn | None = Field(None, description="API resources only; leave out to keep the service.")


class HolderIn(Schema):
    right: str = Field(description="processing (数据加工使用权) or operation (数据产品经营权).")
    department_code: str = ""
    name: str = Field("", description="An organisation's name, when it is not a department.")
    credit_code: str = Field("", description="The organisation's unified social credit code.")


class RightsIn(Schema):
    holder_code: str = Field(description="Code of the department holding the data resource.")
    source_system: str
    collection_legal_basis: str
    provenance_note: str = ""
    holders: list[HolderIn] = []


class AmendIn(RightsIn):
    reason: str


class DisputeIn(Schema):
    reason: str


class SettleIn(Schema):
    settlement: str


def _metadata(payload: MetadataIn) -> actions.ResourceInput:
    return actions.ResourceInput(
        name=payload.name, summary=payload.summary, kind=payload.kind, item_code=payload.item_code,
        category_code=payload.category_code, subcategory_code=payload.subcategory_code,
        update_cycle=payload.update_cycle, sharing_type=payload.sharing_type, opening_type=payload.opening_type,
        format=payload.format, sharing_condition=payload.sharing_condition, legal_basis=payload.legal_basis,
        opening_condition=payload.opening_condition, related=payload.related, sources=payload.sources,
        state_secret=payload.state_secret,
    )


def _service(payload: ServiceIn) -> actions.ServiceInput:
    return actions.ServiceInput(endpoint_url=payload.endpoint_url, http_method=payload.http_method,
                                service_description=payload.service_description,
                                items=[actions.ItemInput(**item.dict()) for item in payload.items])


def _rights(payload: RightsIn) -> actions.RightsInput:
    return actions.RightsInput(holder_code=payload.holder_code, source_system=payload.source_system,
                               collection_legal_basis=payload.collection_legal_basis,
                               provenance_note=payload.provenance_note,
                               holders=[actions.HolderInput(**h.dict()) for h in payload.holders])


# --- endpoints ------------------------------------------------------------------------------------------------


@router.get("/catalog/resources", response=ResourcePage, summary="Search and filter the catalog")
def list_resources(request: HttpRequest, q: str = "", provider: str = "", kind: str = "", sharing_type: str = "",
                   opening_type: str = "", grade: int | None = None, level: int | None = None, status: str = "",
                   page: int = Query(1, ge=1), page_size: int = Query(20, ge=1, le=MAX_PAGE_SIZE)) -> ResourcePage:
    filters = queries.ResourceFilters(text=q, provider=provider, kind=kind, sharing_type=sharing_type,
                                      opening_type=opening_type, grade=grade, level=level, status=status)
    resources = queries.search_resources(_reader(request), filters)
    start = (page - 1) * page_size
    return ResourcePage(count=resources.count(), page=page, page_size=page_size,
                        results=[ResourceSummaryOut(**_summary_values(r)) for r in resources[start:start + page_size]])


@router.post("/catalog/resources", response={201: ResourceOut}, summary="Describe a department's API (as a draft)")
def create_resource(request: HttpRequest, payload: ApiResourceIn) -> Status[ResourceOut]:
    user = _person(request)
    provider = Department.objects.filter(code=payload.provider).first()
    if provider is None:
        raise InvalidInput.for_field("provider", _("No department has the code %(code)s.") % {"code": payload.provider})
    resource = actions.create_api_resource(user, provider=provider, data=_metadata(payload),
                                           service=_service(payload.service))
    return Status(201, _resource(request, resource))


@router.get("/catalog/resources/{resource_id}", response=ResourceOut, summary="A resource with items and rights")
def get_resource(request: HttpRequest, resource_id: int) -> ResourceOut:
    return _resource(request, _visible_resource(request, resource_id))


@router.put("/catalog/resources/{resource_id}", response=ResourceOut, summary="Change a resource's metadata")
def update_resource(request: HttpRequest, resource_id: int, payload: ResourceUpdateIn) -> ResourceOut:
    user = _person(request)
    resource = actions.update_resource(user, _visible_resource(request, resource_id), _metadata(payload),
                                       _service(payload.service) if payload.service is not None else None)
    return _resource(request, resource)


@router.post("/catalog/resources/{resource_id}/publish", response=ResourceOut, summary="Publish a draft")
def publish_resource(request: HttpRequest, resource_id: int) -> ResourceOut:
    resource = actions.publish_resource(_person(request), _visible_resource(request, resource_id))
    return _resource(request, resource)


@router.post("/catalog/resources/{resource_id}/rights", response={201: RegistrationOut},
             summary="Register data rights and issue the signed certificate")
def register_rights(request: HttpRequest, resource_id: int, payload: RightsIn) -> Status[RegistrationOut]:
    registration = actions.register_rights(_person(request), _visible_resource(request, resource_id),
                                           _rights(payload))
    return Status(201, _registration(queries.registrations_with_details().get(pk=registration.pk)))


@router.get("/catalog/rights/{number}", response=RegistrationOut, summary="A rights registration")
def get_registration(request: HttpRequest, number: str) -> RegistrationOut:
    return _registration(_visible_registration(request, number))


@router.put("/catalog/rights/{number}", response=RegistrationOut,
            summary="Amend a registration (issues a new certificate version)")
def amend_registration(request: HttpRequest, number: str, payload: AmendIn) -> RegistrationOut:
    registration = actions.amend_rights(_person(request), _visible_registration(request, number), _rights(payload),
                                        reason=payload.reason)
    return _registration(queries.registrations_with_details().get(pk=registration.pk))


def _certificate(request: HttpRequest, number: str, version: int | None) -> RightsCertificate:
    registration = _visible_registration(request, number)
    return get_object_or_404(RightsCertificate.objects.select_related("registration"), registration=registration,
                             version=version if version is not None else registration.version)


@router.get("/catalog/rights/{number}/certificate", response=CertificateOut,
            summary="The signed certificate (current version unless one is named), with its verification")
def get_certificate(request: HttpRequest, number: str, version: int | None = None) -> CertificateOut:
    certificate = _certificate(request, number, version)
    return CertificateOut(
        version=certificate.version, issued_at=certificate.issued_at, superseded_at=certificate.superseded_at,
        algorithm=certificate.algorithm, key_id=certificate.key_id, public_key=bytes(certificate.public_key).hex(),
        signature=bytes(certificate.signature).hex(), payload=certificate.payload,
        verification=_verification(certificates.verify(certificate)),
    )


@router.get("/catalog/rights/{number}/certificate/verify", response=VerificationOut,
            summary="Verify a certificate's signature against the platform key and the registration")
def verify_certificate(request: HttpRequest, number: str, version: int | None = None) -> VerificationOut:
    return _verification(certificates.verify(_certificate(request, number, version)))


@router.post("/catalog/rights/{number}/disputes", response={201: DisputeOut}, summary="Flag a registration disputed")
def raise_dispute(request: HttpRequest, number: str, payload: DisputeIn) -> Status[DisputeOut]:
    dispute = actions.raise_dispute(_person(request), _visible_registration(request, number), reason=payload.reason)
    return Status(201, _dispute(dispute))


@router.post("/catalog/disputes/{dispute_id}/settle", response=DisputeOut, summary="Settle a dispute")
def settle_dispute(request: HttpRequest, dispute_id: int, payload: SettleIn) -> DisputeOut:
    dispute = get_object_or_404(RightsDispute.objects.select_related("registration"), pk=dispute_id,
                                registration__in=queries.visible_registrations(_reader(request)))
    return _dispute(actions.settle_dispute(_person(request), dispute, settlement=payload.settlement))
