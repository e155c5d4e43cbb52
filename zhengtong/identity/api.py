"""Identity endpoints: who am I, divisions, departments, real-name registration, API clients."""

from __future__ import annotations

import datetime

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from stdnum.cn import uscc

from zhengtong.core import masking
from zhengtong.core.errors import NotPermitted
from zhengtong.identity import actions, roles, scope
from zhengtong.identity.models import ApiClient, Business, Citizen, Department, Division, User

router = Router(tags=["identity"])


class MeOut(Schema):
    kind: str
    name: str
    department: str | None = None
    roles: list[str] = []
    data_scope: str | None = None
    api_client: str | None = None


@router.get("/me", response=MeOut, summary="Who the caller is")
def me(request: HttpRequest) -> MeOut:
    client = getattr(request, "api_client", None)
    if client is not None:
        return MeOut(kind="api_client", name=client.name, department=client.department.code,
                     api_client=client.key_id)
    user = request.auth  # type: ignore[attr-defined]
    staff = getattr(user, "staff", None)
    return MeOut(
        kind=user.kind, name=user.display_name, department=staff.department.code if staff else None,
        roles=sorted(user.groups.values_list("name", flat=True)), data_scope=scope.scope_of(user),
    )


class DivisionOut(Schema):
    code: str
    name: str
    name_en: str
    level: int
    parent: str | None


@router.get("/divisions", response=list[DivisionOut], auth=None, summary="Administrative divisions")
def list_divisions(request: HttpRequest, parent: str | None = None, level: int | None = None) -> list[DivisionOut]:
    divisions = Division.objects.all()
    if parent is not None:
        divisions = divisions.filter(parent_id=parent)
    if level is not None:
        divisions = divisions.filter(level=level)
    return [DivisionOut(code=d.code, name=d.name, name_en=d.name_en, level=d.level, parent=d.parent_id)
            for d in divisions[:5000]]


class DepartmentOut(Schema):
    code: str
    name: str
    name_en: str
    parent: str | None
    division: str
    functions: str
    credit_code: str


@router.get("/departments", response=list[DepartmentOut], auth=None, summary="Government departments")
def list_departments(request: HttpRequest) -> list[DepartmentOut]:
    return [
        DepartmentOut(code=d.code, name=d.name, name_en=d.name_en, parent=d.parent.code if d.parent else None,
                      division=d.division_id, functions=d.functions, credit_code=d.credit_code)
        for d in Department.objects.select_related("parent")
    ]


class CitizenIn(Schema):
    name: str
    resident_id: str
    phone: str = ""
    division_code: str | None = None


class CitizenOut(Schema):
    id: int
    name: str
    resident_id: str
    phone: str
    gender: str
    birth_year: int


def _masked_citizen(citizen: Citizen) -> CitizenOut:
    # Registration answers with what the clerk needs to confirm the right person, never the full numbers.
    return CitizenOut(id=citizen.pk, name=masking.mask_name(citizen.name),
                      resident_id=masking.keep_ends(citizen.resident_id, 6, 4),
                      phone=masking.keep_ends(citizen.phone, 3, 4) if citizen.phone else "",
                      gender=citizen.gender, birth_year=citizen.birth_date.year)


def _staff_actor(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted("Only staff can do this; API clients cannot.")
    return user


@router.post("/citizens", response={201: CitizenOut}, summary="Register a citizen by real name")
def register_citizen(request: HttpRequest, payload: CitizenIn) -> Status[CitizenOut]:
    citizen = actions.register_citizen(_staff_actor(request), actions.CitizenInput(**payload.dict()))
    return Status(201, _masked_citizen(citizen))


class BusinessIn(Schema):
    name: str
    credit_code: str
    legal_representative_id: str
    division_code: str | None = None


class BusinessOut(Schema):
    name: str
    credit_code: str


@router.post("/businesses", response={201: BusinessOut}, summary="Register a business")
def register_business(request: HttpRequest, payload: BusinessIn) -> Status[BusinessOut]:
    actions.register_businesses(_staff_actor(request), [actions.BusinessInput(**payload.dict())])
    business = Business.objects.get(credit_code=uscc.compact(payload.credit_code))
    return Status(201, BusinessOut(name=business.name, credit_code=business.credit_code))


class ApiClientIn(Schema):
    department: str
    name: str


class ApiClientOut(Schema):
    key_id: str
    name: str
    department: str
    created_at: datetime.datetime
    revoked_at: datetime.datetime | None
    last_used_at: datetime.datetime | None


class IssuedOut(ApiClientOut):
    credential: str


def _client_out(client: ApiClient) -> dict[str, object]:
    return {"key_id": client.key_id, "name": client.name, "department": client.department.code,
            "created_at": client.created_at, "revoked_at": client.revoked_at, "last_used_at": client.last_used_at}


@router.get("/api-clients", response=list[ApiClientOut], summary="API clients within your data scope")
def list_api_clients(request: HttpRequest) -> list[dict[str, object]]:
    user = _staff_actor(request)
    if not user.has_perm("identity.view_apiclient"):
        raise NotPermitted("You may not see API clients.")
    clients = scope.filter_by_scope(user, ApiClient.objects.select_related("department"))
    return [_client_out(c) for c in clients]


@router.post("/api-clients", response={201: IssuedOut}, summary="Issue a credential (shown once)")
def create_api_client(request: HttpRequest, payload: ApiClientIn) -> Status[dict[str, object]]:
    department = get_object_or_404(Department, code=payload.department)
    issued = actions.create_api_client(_staff_actor(request), department=department, name=payload.name)
    return Status(201, {**_client_out(issued.client), "credential": issued.credential})


@router.post("/api-clients/{key_id}/revoke", response=ApiClientOut, summary="Revoke a credential")
def revoke_api_client(request: HttpRequest, key_id: str) -> dict[str, object]:
    client = get_object_or_404(ApiClient.objects.select_related("department"), key_id=key_id)
    actions.revoke_api_client(_staff_actor(request), client)
    return _client_out(client)


class RoleOut(Schema):
    name: str
    label: str


@router.get("/roles", response=list[RoleOut], auth=None, summary="Staff roles the platform ships")
def list_roles(request: HttpRequest) -> list[RoleOut]:
    return [RoleOut(name=name, label=str(label)) for name, label in roles.ROLE_LABELS.items()]
