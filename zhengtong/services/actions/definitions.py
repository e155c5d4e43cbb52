"""Uploading processes (BPMN) and decision tables (DMN): each upload of a key is its next version, so an
application keeps running on the version it started with. Uploading the same file again changes nothing."""

from __future__ import annotations

import hashlib
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from zhengtong.audit import actions as audit
from zhengtong.identity.actions import actor_of, require_permission
from zhengtong.services.models import DecisionDefinition, ProcessDefinition
from zhengtong.services.workflow import engine

PERMISSION = "services.define_serviceitem"
Definition = TypeVar("Definition", ProcessDefinition, DecisionDefinition)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _uploader(actor: Any) -> str:
    if actor is None:
        return ""
    return getattr(actor, "display_name", "") or actor.get_username()


def _store_version(actor: Any, model: type[Definition], *, key: str, name: str, text_field: str, text: str,
                   action: str, object_type: str) -> Definition:
    """Keep a checked file as the next version of its id; the same file as the latest version is that
    version. Versions are numbered under a lock on the latest, so two uploads cannot take the same number."""
    digest = _digest(text)
    with transaction.atomic():
        latest = model.objects.select_for_update().filter(key=key).order_by("-version").first()
        if latest is not None and latest.digest == digest:
            return latest
        definition = model.objects.create(
            key=key, version=(latest.version + 1) if latest else 1, name=name[:200], digest=digest,
            uploaded_at=timezone.now(), uploaded_by_name=_uploader(actor), **{text_field: text})
        audit.record(action, actor_of(actor), object_type=object_type, object_id=definition.pk,
                     detail={"key": definition.key, "version": definition.version, "digest": digest})
    return definition


def upload_process(actor: Any, *, bpmn_xml: str, name: str = "") -> ProcessDefinition:
    """Validate a BPMN file (engine.parse_process) and store it as the next version of its process id."""
    require_permission(actor, PERMISSION)
    parsed = engine.parse_process(bpmn_xml)
    return _store_version(actor, ProcessDefinition, key=parsed.key, name=name or parsed.name,
                          text_field="bpmn_xml", text=bpmn_xml, action="services.process.uploaded",
                          object_type="process")


def upload_decision(actor: Any, *, dmn_xml: str, name: str = "") -> DecisionDefinition:
    """Validate a DMN file (engine.parse_decision) and store it as the next version of its decision id."""
    require_permission(actor, PERMISSION)
    parsed = engine.parse_decision(dmn_xml)
    return _store_version(actor, DecisionDefinition, key=parsed.key, name=name or parsed.name,
                          text_field="dmn_xml", text=dmn_xml, action="services.decision.uploaded",
                          object_type="decision")
