"""My data and who used it, for the logged-in citizen, under /api/v1/privacy/my/...: the records about them (read
through the one door as data subject access), the accesses to them (the same query and filters as the page),
and one access's inclusion proof, with every hash a citizen's own tool needs to check it independently.

Also the answer to GovStack's myPersonalDataUsage (exchange.govstack), registered by this app when it starts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from zhengtong.core.errors import FieldProblem, raise_if_problems
from zhengtong.privacy.queries import accesses as queries
from zhengtong.registries.models import Registry

router = Router(tags=["privacy"])
MAX_PAGE_SIZE = 100
DR_LIMIT = 500
NO_STORE = "no-store"  # personal data: no browser or proxy keeps it


class UsageQuery(Schema):
    since: dt.date | None = None
    until: dt.date | None = None
    department: str = ""
    purpose: str = ""
    include_own: bool = False
    page: int = 1
    page_size: int = 20


def filters_of(query: UsageQuery) -> queries.UsageFilters:
    problems = []
    if query.since and query.until and query.since > query.until:
        problems.append(FieldProblem("until", _("The end of the period must not come before its start.")))
    if query.page < 1:
        problems.append(FieldProblem("page", _("Pages are counted from 1.")))
    if not 1 <= query.page_size <= MAX_PAGE_SIZE:
        problems.append(FieldProblem("page_size", _("Ask for 1 to %(max)d accesses a page.")
                                     % {"max": MAX_PAGE_SIZE}))
    raise_if_problems(problems)
    return queries.UsageFilters(query.since, query.until, query.department.strip(), query.purpose.strip(),
                                query.include_own)


def access_body(access: queries.Access) -> dict[str, Any]:
    return {
        "id": access.entry_id, "occurred_at": access.occurred_at.isoformat(), "action": access.action,
        "department": {"code": access.department_code, "name": access.department_name,
                       "credit_code": access.institution_id},
        "reader": {"kind": access.reader_kind, "name": access.reader, "system_id": access.reader_id},
        "purpose": access.purpose, "legal_basis": access.legal_basis,
        "registry": {"code": access.registry_code, "name": access.registry_name},
        "fields": access.fields, "records": access.record_ids,
        "hidden": [{"hidden_until": d.hidden_until.isoformat(), "hidden_at": d.hidden_at.isoformat(),
                    "hidden_by": d.hidden_by, "reason": d.reason, "case_reference": d.case_reference}
                   for d in access.disclosures],
    }


@router.get("/privacy/my/records", summary="The records about me in every registry (data subject access)")
def my_records(request: HttpRequest, response: HttpResponse) -> dict[str, Any]:
    response["Cache-Control"] = NO_STORE
    copies = queries.my_records(request.user)
    return {"registries": [{
        "code": copy.code, "name": copy.name, "department": copy.department,
        "fields": [{"name": name, "label": label} for name, label in copy.fields],
        "records": [{"record_id": r.record_id, "version": r.version, "values": r.values} for r in copy.readings],
    } for copy in copies]}


@router.get("/privacy/my/data-usage", summary="Who used my data: accesses to my records, newest first")
def my_data_usage(request: HttpRequest, response: HttpResponse, query: Query[UsageQuery]) -> dict[str, Any]:
    response["Cache-Control"] = NO_STORE
    filters = filters_of(query)
    entries = queries.visible_accesses(request.user, filters)
    start = (query.page - 1) * query.page_size
    found = list(entries[start:start + query.page_size])
    return {"total": entries.count(), "page": query.page, "page_size": query.page_size,
            "items": [access_body(a) for a in queries.describe(found)]}


@router.get("/privacy/my/data-usage/{entry_id}/proof",
            summary="The inclusion proof of one access against the latest signed tree head")
def access_proof(request: HttpRequest, response: HttpResponse, entry_id: int) -> dict[str, Any]:
    response["Cache-Control"] = NO_STORE
    check = queries.check_proof(request.user, entry_id)
    head = check.head
    return {
        "entry_id": entry_id, "status": check.status, "reason": check.reason, "leaf_index": check.leaf_index,
        "leaf_hash": queries.leaf_hash_hex(entry_id) if check.status != "pending" else "",
        "tree_size": check.tree_size, "root_hash": bytes(check.root_hash).hex(),
        "proof": [node.hex() for node in check.proof],
        "tree_head": None if head is None or check.status == "pending" else {
            "tree_size": head.tree_size, "timestamp": head.timestamp.isoformat(),
            "hash_algorithm": head.hash_algorithm, "signature_algorithm": head.signature_algorithm,
            "key_id": head.key_id, "signature": bytes(head.signature).hex(),
            "public_key": queries.public_key_hex(head.key_id)},
    }


# --- GovStack Digital Registries: myPersonalDataUsage ------------------------------------------------------------


def dr_personal_data_usage(subject: str, registry: Registry) -> list[dict[str, Any]]:
    """The spec's PersonalDataUsage items for one person and registry: the accesses the person would see on
    "who used my data" today (hidden ones left out), their own reads aside, newest first."""
    entries = queries.accesses_about(subject).filter(object_type="registry", object_id=registry.code) \
        .exclude(pk__in=queries.hidden_entry_ids()).exclude(actor_kind="citizen").order_by("-occurred_at", "-id")
    return [_dr_item(access) for access in queries.describe(list(entries[:DR_LIMIT]))]


def _dr_item(access: queries.Access) -> dict[str, Any]:
    system = access.reader_kind == "system"
    references = [{"ReferenceID": f"{access.registry_code}{access.record_ids[0]}"}] \
        if len(access.record_ids) == 1 else [{"ReferenceID": access.registry_code}]
    return {
        "id": str(access.entry_id), "readerId": access.reader_id if system else "", "readerInitials": "",
        "readerInstitutionId": access.institution_id, "readerInstitutionName": access.department_name,
        "readerApplicationName": access.reader,
        "searchDateTime": access.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "refrences": references,
    }
