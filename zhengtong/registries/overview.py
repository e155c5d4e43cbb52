"""What the staff pages and the API say about registries: definitions, counts, grades, keys and imports.

Metadata only. No record value is read here: showing values is the one door's job (exchange).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from zhengtong.identity import scope
from zhengtong.registries import importing
from zhengtong.registries.codec import spec_of
from zhengtong.registries.models import Grade, ImportJob, ImportStatus, Level, Record, Registry
from zhengtong.registries.schema import Schema

RECENT_IMPORTS = 10


def schema_of(registry: Registry) -> Schema:
    """The registry's schema from its field rows (prefetched ones when the queryset prefetched them)."""
    return Schema(spec_of(row) for row in registry.fields.all())


def with_counts(registries: QuerySet[Registry]) -> QuerySet[Registry]:
    """Registries annotated with live_records and deleted_records, their fields prefetched."""
    return registries.select_related("department").prefetch_related("fields").annotate(
        live_records=Count("records", filter=Q(records__deleted_at__isnull=True)),
        deleted_records=Count("records", filter=Q(records__deleted_at__isnull=False)),
    )


def record_counts(registry: Registry) -> dict[str, int]:
    counts = Record.objects.filter(registry=registry).aggregate(
        live=Count("pk", filter=Q(deleted_at__isnull=True)), deleted=Count("pk", filter=Q(deleted_at__isnull=False)))
    return {"live": counts["live"] or 0, "deleted": counts["deleted"] or 0}


@dataclass(frozen=True)
class Summary:
    registry: Registry
    schema: Schema
    live_records: int
    deleted_records: int

    @property
    def grade(self) -> int:
        return self.schema.grade

    @property
    def level(self) -> int:
        return self.schema.level

    @property
    def grade_label(self) -> str:
        return str(Grade(self.grade).label)

    @property
    def level_label(self) -> str:
        return str(Level(self.level).label)

    def as_dict(self) -> dict[str, Any]:
        registry = self.registry
        return {
            "code": registry.code, "name": registry.name, "name_en": registry.name_en,
            "department": registry.department.code, "department_name": registry.department.name,
            "is_base": registry.is_base, "schema_version": registry.schema_version,
            "fields": len(self.schema.fields), "grade": self.grade, "level": self.level,
            "records": {"live": self.live_records, "deleted": self.deleted_records},
        }


def summaries(registries: QuerySet[Registry]) -> list[Summary]:
    return [Summary(registry, schema_of(registry), registry.live_records, registry.deleted_records)  # type: ignore[attr-defined]
            for registry in with_counts(registries)]


def summary(registry: Registry) -> Summary:
    counts = record_counts(registry)
    return Summary(registry, schema_of(registry), counts["live"], counts["deleted"])


def status_label(status: str) -> str:
    try:
        return str(ImportStatus(status).label)
    except ValueError:
        return status


ACTION_LABELS = {
    "registries.create_record": _("created"),
    "registries.update_record": _("changed"),
    "registries.delete_record": _("deleted"),
    "registries.restore_record": _("restored"),
    importing.IMPORT_ACTION: _("imported"),  # records an import creates or changes
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def can_see_import(user: Any, job: ImportJob) -> bool:
    """Anyone who may import into the job's registry within their data scope; the requester too, but only while
    they may (the report and the rejected rows hold personal values)."""
    return scope.permitted(user, importing.PERMISSION, job)


def recent_imports(registry: Registry) -> list[ImportJob]:
    return list(ImportJob.objects.filter(registry=registry).select_related("requested_by")
                .order_by("-created_at", "-pk")[:RECENT_IMPORTS])
