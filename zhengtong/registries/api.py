"""Registry endpoints: define registries and change their schemas, write records, upload files, import.

Thin: parse, call an action (which checks permission within the data scope and writes the audit entry), shape
the reply. Record values are taken in but never given back: reading them is the exchange app's one door, so a
write answers with the record's id and version only, and history is metadata (who, when, which fields, why).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema, Status, UploadedFile

from zhengtong.core.errors import InvalidInput, NotPermitted
from zhengtong.identity import scope
from zhengtong.identity.models import Department, User
from zhengtong.registries import actions, importing, overview, queries
from zhengtong.registries.models import DataKey, ImportJob, Record, Registry, SchemaVersion
from zhengtong.registries.schema import FieldSpec, json_schema_of

router = Router(tags=["registries"])

VIEW = "registries.view_registry"


# --- who is asking ------------------------------------------------------------------------------------------


def _staff(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    if not isinstance(user, User):
        raise NotPermitted(_("Only staff can do this; API clients cannot."))
    return user


def _viewer(request: HttpRequest) -> User:
    """A staff member who may see registries at all; anyone else is refused before anything is looked up."""
    user = _staff(request)
    if not scope.permitted(user, VIEW):
        raise NotPermitted(_("You do not have permission to do this."))
    return user


def _registry(user: User, code: str) -> Registry:
    registry = queries.registries_for(user).filter(code=code).first()
    if registry is None:
        raise Http404(_("There is no registry %(code)s.") % {"code": code})
    return registry


def _record(registry: Registry, record_id: int) -> Record:
    record = Record.objects.select_related("registry").filter(registry=registry, pk=record_id).first()
    if record is None:
        raise Http404(_("Registry %(code)s has no record %(id)s.") % {"code": registry.code, "id": record_id})
    return record


def _definer(request: HttpRequest) -> User:
    """A staff member who may define registries somewhere (the action checks the department itself)."""
    user = _staff(request)
    if not scope.permitted(user, "registries.add_registry"):
        raise NotPermitted(_("You do not have permission to do this."))
    return user


def _department(code: str) -> Department:
    department = Department.objects.filter(code=code).first()
    if department is None:
        raise InvalidInput.for_field("department", _("There is no department with the code %(code)s.")
                                     % {"code": code})
    return department


# --- shapes -------------------------------------------------------------------------------------------------


class ChoiceIO(Schema):
    value: str
    label: str = ""
    label_en: str = ""


class FieldIO(Schema):
    name: str
    type: str
    label: str = ""
    label_en: str = ""
    description: str = ""
    required: bool = False
    is_key: bool = False
    unique: bool = False
    indexed: bool = False
    validator: str = ""
    pattern: str = ""
    max_length: int | None = None
    choices: list[ChoiceIO] = []
    sensitivity: str = "internal"
    grade: int = 1
    level: int = 2
    masking: str = ""
    encrypted: bool = False


def _specs(fields: list[FieldIO]) -> list[FieldSpec]:
    return [FieldSpec.from_mapping({**item.dict(), "choices": [c.dict() for c in item.choices]}) for item in fields]


class RecordCounts(Schema):
    live: int
    deleted: int


class RegistrySummaryOut(Schema):
    code: str
    name: str
    name_en: str
    department: str
    department_name: str
    is_base: bool
    schema_version: int
    fields: int = Field(description="How many fields the schema has")
    grade: int = Field(description="GB/T 43697 grade, the highest of the fields': 1 general, 2 important, 3 core")
    level: int = Field(description="Public-data level L1–L4, the highest of the fields'")
    records: RecordCounts


class SchemaVersionOut(Schema):
    version: int
    action: str
    actor: str
    created_at: datetime.datetime
    fields: list[str]


class DataKeyOut(Schema):
    version: int
    cipher: str
    created_at: datetime.datetime
    retired_at: datetime.datetime | None


class RegistryOut(RegistrySummaryOut):
    description: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    definition: list[FieldIO] = Field(description="Every field with all its attributes, in order")
    json_schema_: dict[str, Any] = Field(alias="json_schema",
                                         description="The schema as a GovStack Digital Registries JSON schema")
    schema_versions: list[SchemaVersionOut]
    data_keys: list[DataKeyOut] = Field(description="Data key versions (never key material)")


def _registry_out(registry: Registry) -> dict[str, Any]:
    summary = overview.summary(registry)
    versions = SchemaVersion.objects.filter(registry=registry).order_by("version")
    keys = DataKey.objects.filter(registry=registry).order_by("version").only(
        "version", "cipher", "created_at", "retired_at")
    return {
        **summary.as_dict(),
        "description": registry.description, "created_at": registry.created_at, "updated_at": registry.updated_at,
        "definition": [spec.as_dict() for spec in summary.schema.fields],
        "json_schema": json_schema_of(summary.schema.fields),
        "schema_versions": [{"version": v.version, "action": v.action, "actor": v.actor_name,
                             "created_at": v.created_at, "fields": [f.get("name", "") for f in v.fields]}
                            for v in versions],
        "data_keys": [{"version": k.version, "cipher": k.cipher, "created_at": k.created_at,
                       "retired_at": k.retired_at} for k in keys],
    }


# --- registries ---------------------------------------------------------------------------------------------


@router.get("/registries", response=list[RegistrySummaryOut], summary="Registries you may see")
def list_registries(request: HttpRequest) -> list[dict[str, Any]]:
    user = _viewer(request)
    return [summary.as_dict() for summary in overview.summaries(queries.registries_for(user))]


class JsonSchemaRegistryIn(Schema):
    code: str
    name: str
    name_en: str = ""
    department: str = Field(description="The provider department's code")
    description: str = ""
    is_base: bool = False
    schema_: dict[str, Any] = Field(alias="schema", description="A GovStack Digital Registries database-API "
                                                                 "JSON schema: {type, properties, required}")


@router.post("/registries/from-json-schema", response={201: RegistryOut}, by_alias=True,
             summary="Define a registry from a GovStack Digital Registries JSON schema")
def define_registry_from_json_schema(request: HttpRequest, payload: JsonSchemaRegistryIn) -> Status[dict[str, Any]]:
    registry = actions.define_registry_from_json_schema(
        _definer(request), code=payload.code, name=payload.name, department=_department(payload.department),
        name_en=payload.name_en, description=payload.description, is_base=payload.is_base,
        document=payload.schema_)
    return Status(201, _registry_out(registry))


@router.get("/registries/{code}", response=RegistryOut, by_alias=True, summary="A registry's definition")
def get_registry(request: HttpRequest, code: str) -> dict[str, Any]:
    return _registry_out(_registry(_viewer(request), code))


class RegistryIn(Schema):
    code: str
    name: str
    name_en: str = ""
    description: str = ""
    department: str = Field(description="The provider department's code")
    is_base: bool = False
    fields: list[FieldIO]


@router.post("/registries", response={201: RegistryOut}, by_alias=True, summary="Define a registry")
def define_registry(request: HttpRequest, payload: RegistryIn) -> Status[dict[str, Any]]:
    registry = actions.define_registry(
        _definer(request), code=payload.code, name=payload.name, name_en=payload.name_en,
        description=payload.description, department=_department(payload.department), is_base=payload.is_base,
        fields=_specs(payload.fields))
    return Status(201, _registry_out(registry))


class SchemaIn(Schema):
    fields: list[FieldIO]


@router.put("/registries/{code}/schema", response=RegistryOut, by_alias=True,
            summary="Change a registry's schema (409 when existing records would violate it)")
def change_schema(request: HttpRequest, code: str, payload: SchemaIn) -> dict[str, Any]:
    user = _viewer(request)
    registry = actions.change_schema(user, _registry(user, code), _specs(payload.fields))
    return _registry_out(registry)


# --- records ------------------------------------------------------------------------------------------------


class RecordIn(Schema):
    values: dict[str, Any]


class RecordChangeIn(Schema):
    values: dict[str, Any]
    reason: str = ""


class ReasonIn(Schema):
    reason: str = ""


class RecordOut(Schema):
    id: int
    version: int
    deleted: bool


def _record_out(record: Record) -> dict[str, Any]:
    return {"id": record.pk, "version": record.version, "deleted": record.deleted_at is not None}


@router.post("/registries/{code}/records", response={201: RecordOut}, summary="Create a record")
def create_record(request: HttpRequest, code: str, payload: RecordIn) -> Status[dict[str, Any]]:
    user = _viewer(request)
    record = actions.create_record(user, _registry(user, code), payload.values)
    return Status(201, _record_out(record))


@router.patch("/registries/{code}/records/{record_id}", response=RecordOut, summary="Change a record's fields")
def update_record(request: HttpRequest, code: str, record_id: int, payload: RecordChangeIn) -> dict[str, Any]:
    user = _viewer(request)
    record = _record(_registry(user, code), record_id)
    return _record_out(actions.update_record(user, record, payload.values, reason=payload.reason))


@router.delete("/registries/{code}/records/{record_id}", response=RecordOut,
               summary="Delete a record (soft; the reason is required)")
def delete_record(request: HttpRequest, code: str, record_id: int, payload: ReasonIn | None = None,
                  reason: str = "") -> dict[str, Any]:
    user = _viewer(request)
    record = _record(_registry(user, code), record_id)
    return _record_out(actions.delete_record(user, record, reason=(payload.reason if payload else "") or reason))


@router.post("/registries/{code}/records/{record_id}/restore", response=RecordOut,
             summary="Restore a deleted record (the reason is required)")
def restore_record(request: HttpRequest, code: str, record_id: int, payload: ReasonIn) -> dict[str, Any]:
    user = _viewer(request)
    record = _record(_registry(user, code), record_id)
    return _record_out(actions.restore_record(user, record, reason=payload.reason))


class HistoryOut(Schema):
    version: int
    action: str
    actor: str
    department: str
    at: datetime.datetime
    fields: list[str]
    reason: str


@router.get("/registries/{code}/records/{record_id}/history", response=list[HistoryOut],
            summary="A record's history: who changed which fields, when, why (no values)")
def record_history(request: HttpRequest, code: str, record_id: int) -> list[queries.HistoryEntry]:
    user = _viewer(request)
    record = _record(_registry(user, code), record_id)
    if not scope.permitted(user, VIEW, record):
        raise NotPermitted(_("This record is outside your data scope."))
    return queries.history(record)


# --- files and imports --------------------------------------------------------------------------------------


class StoredFileOut(Schema):
    digest: str
    name: str
    content_type: str
    size: int


@router.post("/registries/{code}/files", response={201: StoredFileOut},
             summary="Upload a file for a record's file field (answers with its digest)")
def upload_file(request: HttpRequest, code: str, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    user = _viewer(request)
    registry = _registry(user, code)
    if file.size and file.size > actions.MAX_FILE_BYTES:
        raise InvalidInput.for_field("file", _("A file may be at most %(mb)d MB.")
                                     % {"mb": actions.MAX_FILE_BYTES >> 20})
    stored = actions.store_file(user, registry, name=file.name or "file",
                                content_type=file.content_type or "application/octet-stream", content=file.read())
    return Status(201, {"digest": stored.digest, "name": stored.name, "content_type": stored.content_type,
                        "size": stored.size})


class ProblemOut(Schema):
    row: int | None = None
    field: str = ""
    reason: str = ""


class ImportJobOut(Schema):
    id: int
    registry: str
    file_name: str
    quarantine: bool
    status: str
    rows_done: int
    rows_total: int | None
    percent: int | None
    created: int
    updated: int
    rejected: int
    problems: list[ProblemOut]
    message: str
    has_rejected_file: bool
    stalled: bool
    requested_by: str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None


def _job_out(job: ImportJob) -> dict[str, Any]:
    progress = importing.job_progress(job)
    return {
        "id": job.pk, "registry": job.registry.code, "file_name": job.file_name, "quarantine": job.quarantine,
        "status": progress.status, "rows_done": progress.rows_done, "rows_total": progress.rows_total,
        "percent": progress.percent, "created": progress.created, "updated": progress.updated,
        "rejected": progress.rejected, "problems": list(progress.problems), "message": progress.message,
        "has_rejected_file": progress.has_rejected_file, "stalled": progress.stalled,
        "requested_by": job.requested_by.display_name if job.requested_by else "",
        "created_at": job.created_at, "finished_at": job.finished_at,
    }


@router.post("/registries/{code}/imports", response={202: ImportJobOut},
             summary="Import a CSV or XLSX file (all-or-nothing, or quarantine bad rows); runs in the background")
def start_import(request: HttpRequest, code: str, file: File[UploadedFile],
                 quarantine: Form[bool] = False) -> Status[dict[str, Any]]:
    user = _viewer(request)
    job = importing.start_import(user, _registry(user, code), upload=file, file_name=file.name or "",
                                 quarantine=quarantine)
    return Status(202, _job_out(job))


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    user = _staff(request)
    job = get_object_or_404(ImportJob.objects.select_related("registry", "requested_by"), pk=job_id)
    if not overview.can_see_import(user, job):
        raise NotPermitted(_("Only someone who may import into this registry can see its imports."))
    return job


@router.get("/registries/imports/{job_id}", response=ImportJobOut, summary="An import's progress and report")
def get_import(request: HttpRequest, job_id: int) -> dict[str, Any]:
    return _job_out(_job(request, job_id))


@router.get("/registries/imports/{job_id}/rejected", response={200: None},
            summary="The rejected rows of an import, as CSV with the reasons")
def rejected_rows(request: HttpRequest, job_id: int) -> FileResponse:
    job = _job(request, job_id)
    path = importing.rejected_rows_path(job)
    if path is None:
        raise Http404(_("This import has no rejected rows to download."))
    response = FileResponse(path.open("rb"), as_attachment=True, filename=f"import-{job.pk}-rejected.csv",
                            content_type="text/csv; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response
